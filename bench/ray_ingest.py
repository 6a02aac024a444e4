"""`qa index --ray` with 1 and 2 local Ray workers against a plain `qa index`, as whole processes, interleaved.

Each run is a fresh `qa index` process into a fresh index folder that holds only the model's ONNX export (warm
cache, copied in beforehand), timed from start to exit. Rounds interleave four ways (plain, plain on one ONNX
thread as a Ray worker runs, ray with QA_RAY_WORKERS=1, ray with QA_RAY_WORKERS=2) over a tiny corpus (one short
seed article: what start-up costs) and the measured corpus (default: the eight SQuAD 2.0 articles of
../shared/bench/squad2/corpus). ``--split N`` also measures a corpus derived from it: each article cut at paragraph
breaks into documents of N paragraphs (same text, more and smaller documents, so the work spreads more evenly over
the workers).

Printed: medians per way and corpus, passages/s, the speedup of 2 workers over 1, Ray's fixed start-up cost, and a
labelled extrapolation to more nodes of this size: ``T(w) = fixed + work / w``, the fixed part being a ray1 run over
the tiny corpus and the work the rest of a ray1 run over the measured one.

    .venv/bin/python bench/ray_ingest.py --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qa.store.manifest import read_manifest

ROOT = Path(__file__).resolve().parent.parent
# ../shared beside the checkout (or beside the folder of worktrees holding it)
SQUAD = next(
    (p for p in (ROOT.parent / "shared/bench/squad2/corpus", ROOT.parents[1] / "shared/bench/squad2/corpus")
     if p.is_dir()), ROOT.parent / "shared/bench/squad2/corpus",
)  # fmt: skip
TINY = ROOT / "seeds" / "003_3ad3cec4be3d9008.txt"
# settings of each way; "plain1" is plain `qa index` on one ONNX thread, as each Ray worker runs
WAYS: dict[str, dict[str, str]] = {
    "plain": {},
    "plain1": {"QA_THREADS": "1"},
    "ray1": {"QA_RAY_WORKERS": "1"},
    "ray2": {"QA_RAY_WORKERS": "2"},
}
RUN_SECONDS = 900


def environment(ray_tmp: Path, settings: dict[str, str]) -> dict[str, str]:
    """A child's environment: this checkout first, only the way's QA_* settings, Ray's files under ray_tmp."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", RAY_TMPDIR=str(ray_tmp), RAY_AUTH_MODE="token")
    return env | settings


def run(way: str, corpus: Path, scratch: Path, onnx: Path, ray_tmp: Path) -> tuple[float, int]:
    """Seconds one `qa index` process took (start to exit) and the passages it indexed, in a fresh index folder."""
    index = Path(tempfile.mkdtemp(prefix="index-", dir=scratch))
    shutil.copytree(onnx, index / "onnx")
    argv = [sys.executable, "-m", "qa.terminal.cli", "index", "--corpus", str(corpus), "--index", str(index)]
    if way.startswith("ray"):
        argv.append("--ray")
    began = time.perf_counter()
    with subprocess.Popen(
        argv, env=environment(ray_tmp, WAYS[way]), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            out, err = proc.communicate(timeout=RUN_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise SystemExit(f"{way} over {corpus} did not finish in {RUN_SECONDS} s") from None
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{way} over {corpus} failed ({proc.returncode}):\n{out[-2000:]}\n{err[-3000:]}")
    passages = read_manifest(index).passages
    shutil.rmtree(index, ignore_errors=True)
    return seconds, passages


def split_corpus(source: Path, paragraphs: int, folder: Path) -> Path:
    """The articles of ``source`` (JSON Lines) cut at paragraph breaks into documents of ``paragraphs`` paragraphs."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for file in sorted(source.glob("*.jsonl")):
        for line in file.read_text().splitlines():
            doc = json.loads(line)
            parts = doc["text"].split("\n\n")
            for i in range(0, len(parts), paragraphs):
                text = "\n\n".join(parts[i : i + paragraphs])
                lines.append(json.dumps({"id": f"{doc['id']}-{i // paragraphs}", "title": doc["title"], "text": text}))
    (folder / "derived.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def main() -> None:
    """Warm up, run the rounds, print the table and the extrapolation."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=SQUAD, help="corpus folder to measure")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (bounded: 1..10)")
    ap.add_argument("--split", type=int, default=0, help="also a corpus derived by cutting articles every N paragraphs")
    ap.add_argument("--nodes", default="1,2,4,8,16", help="node counts of the extrapolation (2 workers each)")
    args = ap.parse_args()
    rounds = max(1, min(args.rounds, 10))
    with tempfile.TemporaryDirectory(prefix="qa-rb-") as tmp:
        scratch = Path(tmp)
        ray_tmp = scratch / "ray"
        ray_tmp.mkdir()
        tiny = scratch / "tiny"
        tiny.mkdir()
        shutil.copy(TINY, tiny)
        corpora = {"tiny": tiny, "corpus": args.corpus.resolve()}
        if args.split:
            corpora[f"split{args.split}"] = split_corpus(args.corpus, args.split, scratch / "split")
        warm = scratch / "warm"  # an untimed build exports the model once; every run copies the export
        subprocess.run(
            [sys.executable, "-m", "qa.terminal.cli", "index", "--corpus", str(tiny), "--index", str(warm)],
            env=environment(ray_tmp, {}), check=True, capture_output=True, timeout=RUN_SECONDS,
        )  # fmt: skip
        for way in WAYS:  # untimed: the page cache holds every library each way loads
            run(way, tiny, scratch, warm / "onnx", ray_tmp)
        times: dict[tuple[str, str], list[float]] = {}
        passages: dict[str, int] = {}
        for r in range(rounds):
            for name, corpus in corpora.items():
                for way in WAYS:
                    seconds, count = run(way, corpus, scratch, warm / "onnx", ray_tmp)
                    times.setdefault((name, way), []).append(seconds)
                    passages[name] = count
                    print(f"round {r + 1} {name:>8} {way:>5}: {seconds:6.1f} s, {count} passages", flush=True)
    print(f"\nmedians of {rounds} rounds, whole `qa index` processes (plain: 2 ONNX threads; plain1 and ray: 1)")
    medians = {key: statistics.median(values) for key, values in times.items()}
    for name in corpora:
        row = [f"{way} {medians[name, way]:.1f} s ({passages[name] / medians[name, way]:.1f} passages/s)"
               for way in WAYS]  # fmt: skip
        print(f"  {name} ({passages[name]} passages): " + ", ".join(row))
    plain_tiny, ray_tiny = medians["tiny", "plain"], min(medians["tiny", "ray1"], medians["tiny", "ray2"])
    extra = ray_tiny - plain_tiny
    print(f"fixed cost: tiny corpus plain {plain_tiny:.1f} s, ray {ray_tiny:.1f} s: Ray adds {extra:.1f} s")
    for name in corpora:
        if name == "tiny":
            continue
        one, two, plain = medians[name, "ray1"], medians[name, "ray2"], medians[name, "plain"]
        print(
            f"{name}: ray 2 workers vs 1: {one / two:.2f}x; ray1 vs plain1 (both one thread): "
            f"{medians[name, 'plain1'] / one:.2f}x; ray2 vs plain: {plain / two:.2f}x"
        )
        # Fixed part: the whole ray1 run over the tiny corpus (start-up of Ray and the model, read, merge, write:
        # none of it parallel); the rest of a ray1 run is one worker's work, spread over w workers given w cores.
        fixed = medians["tiny", "ray1"]
        work = one - fixed
        if work <= 0:
            print(f"{name}: a ray1 run took no longer than the tiny corpus; no extrapolation")
            continue
        rate = passages[name] / work
        print(
            f"EXTRAPOLATION (a model, not a measurement) for {name}: T = {fixed:.1f} s fixed (Ray and model "
            f"start-up, the driver's read and grouping, its merge of the shards into one sentence table, BM25 "
            f"index and FAISS file, writing the snapshot: none of it parallel) + {work:.1f} s of embedding "
            f"(one worker: {rate:.1f} passages/s, their sentences included) / workers, assuming each worker has "
            f"a free core; measured here 2 workers vs 1 gave {one / two:.2f}x"
        )
        for nodes in (int(n) for n in args.nodes.split(",")):
            w = 2 * nodes
            big = 1_000_000 / (rate * w)
            print(
                f"  EXTRAPOLATED {nodes:>2} node(s) x 2 workers: this corpus {fixed + work / w:.1f} s "
                f"(at most {one / fixed:.1f}x over 1 worker); 1M passages {big / 3600:.1f} h of embedding plus the "
                f"driver's merge, which grows with the corpus and is not measured at that size"
            )
    print(f"load after the runs: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
