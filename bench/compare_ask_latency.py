"""POST /ask latency of this checkout against another git revision, side by side (A B A B), medians and ratio.

Each run is ``bench/ask_latency.py`` of that revision in a fresh process (its own index build and loopback
server); the figures quoted are the medians over the runs of each side's p50 and p95, and the median of the
per-pair ratios of p50 (this / other), so machine drift between pairs cancels out.

    .venv/bin/python bench/compare_ask_latency.py --base HEAD~1 --pairs 3
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = re.compile(r"POST /ask over loopback, \d+ requests: p50 ([\d.]+) ms, p95 ([\d.]+) ms")


def run(checkout: Path, port: int, rounds: int) -> tuple[float, float]:
    """p50 and p95 in ms printed by one run of ``checkout``'s ask_latency.py (its code first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "HF_HUB_OFFLINE": "1"}
    script = checkout / "bench" / "ask_latency.py"
    out = subprocess.run(
        [sys.executable, str(script), "--rounds", str(rounds), "--port", str(port)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    ).stdout
    match = FIGURES.search(out)
    if match is None:
        raise SystemExit(f"no figures in the output of {script}:\n{out}")
    return float(match.group(1)), float(match.group(2))


def main() -> None:
    """Check out ``--base`` beside this tree, then time both alternately and print medians and the p50 ratio."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="git revision to compare against, e.g. HEAD~1 or a tag")
    ap.add_argument("--pairs", type=int, default=3, help="A/B pairs of runs (bounded: 1..10)")
    ap.add_argument("--rounds", type=int, default=3, help="times each dev question is asked in one run")
    args = ap.parse_args()
    pairs = max(1, min(args.pairs, 10))
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base], check=True)
        try:
            this_runs, base_runs = [], []
            for i in range(pairs):
                this_runs.append(run(ROOT, 8771, args.rounds))
                base_runs.append(run(base, 8772, args.rounds))
                print(f"pair {i + 1}: this p50 {this_runs[-1][0]:.1f} ms, {args.base} p50 {base_runs[-1][0]:.1f} ms")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    ratios = [a[0] / b[0] for a, b in zip(this_runs, base_runs, strict=True)]
    for name, runs in (("this checkout", this_runs), (args.base, base_runs)):
        p50 = statistics.median(r[0] for r in runs)
        p95 = statistics.median(r[1] for r in runs)
        print(f"{name}: median p50 {p50:.1f} ms, median p95 {p95:.1f} ms over {len(runs)} runs")
    each = ", ".join(f"{r:.3f}" for r in ratios)
    print(f"p50 ratio this / {args.base}: median {statistics.median(ratios):.3f} (pairs: {each})")


if __name__ == "__main__":
    main()
