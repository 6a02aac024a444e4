"""Query throughput at concurrency 16: our `POST /ask` against txtai's `GET /search`, same passages and questions.

For each corpus (the SQuAD half of ../shared/bench/squad2 with 300 of its questions, answerable or not, spread over
the file; the seeds with the dev questions) it builds our index, exports the texts that index embeds and keyword
indexes, builds a txtai 9.14 hybrid index of exactly those texts (same model), then in interleaved rounds (ours,
txtai, ours with one worker, ours, txtai, ...) starts each server alone, warms it up, sends the same questions for a
fixed number of requests with a lean load generator (wrk, else an asyncio raw-socket client) on 127.0.0.1, reads
its memory (PSS and RSS summed over the server's process tree), and stops it. Prints req/s, p50, p99 per server
and round, then medians, the ratio ours/txtai and p99/p50.

    PYTHONPATH=. .venv/bin/python bench/throughput.py [--corpus squad2|seeds|both] [--rounds 3] [--requests 600]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import loadgen
import peer_txtai
from serving import free_port, memory_mb, tree

from qa.base.settings import Settings
from qa.store import archive
from qa.store.part import indexed_texts

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
SHARED = next((p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.is_dir()), ROOT / "shared")
CORPORA = {
    "squad2": (SHARED / "bench/squad2/corpus", SHARED / "bench/squad2/qa.jsonl", 300),
    "seeds": (ROOT / "seeds", ROOT / "tests/data/dev_qa.jsonl", 0),  # 0: every question
}
START_TIMEOUT = 900.0  # seconds for a server to answer (ours may build its index first)


@dataclass(frozen=True)
class Server:
    """How to start one server and what to send it."""

    name: str
    command: list[str]
    env: dict[str, str]
    ready_path: str
    requests: list[loadgen.Request]


def questions(path: Path, count: int) -> list[str]:
    """``count`` questions spread evenly over the file (0: all), in file order."""
    rows = [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]
    if count <= 0 or count >= len(rows):
        return rows
    return [rows[i * len(rows) // count] for i in range(count)]


def our_env(corpus: Path, index: Path) -> dict[str, str]:
    """The environment our CLI runs with for this corpus and index folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(QA_CORPUS_DIR=str(corpus), QA_INDEX_DIR=str(index), HF_HUB_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def ensure_our_index(corpus: Path, index: Path) -> list[str]:
    """Build our index when missing or stale (``qa index``), then the texts it embeds and keyword-indexes, by row."""
    env = our_env(corpus, index)
    settings = Settings.from_env(env)
    try:
        read = archive.read(settings.build)
    except Exception:  # missing or stale: build it as a user would
        print(f"building our index of {corpus}", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "qa.terminal.cli", "index"], env=env, check=True, timeout=3600)
        read = archive.read(settings.build)
    live = range(read.size) if read.live is None else [int(r) for r in read.live.nonzero()[0]]
    texts = indexed_texts(read.passages, read.documents, settings.build.embed_title)
    return [texts[r] for r in live]


def cpu_seconds(root: int) -> float:
    """User plus system CPU time in seconds of a process tree (the processes alive now)."""
    total = 0
    for pid in tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def wait_ready(proc: subprocess.Popen[bytes], port: int, path: str, log: Path) -> None:
    """Wait until ``GET path`` answers 200, or fail with the server's log when it exits or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server not ready after {START_TIMEOUT:.0f} s: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server and every process of its group: SIGTERM, then SIGKILL after 20 s."""
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


Result = tuple[loadgen.Load, float, float, float]  # the load, PSS MB, RSS MB, server CPU ms per request


def measure(server: Server, args: argparse.Namespace, client: str, work: Path) -> Result:
    """Start the server alone, warm it up, load it, read its memory and CPU time, stop it."""
    port = free_port()
    command = [*server.command, "--port", str(port)] if "--port" not in server.command else server.command
    if "{port}" in " ".join(command):
        command = [c.replace("{port}", str(port)) for c in command]
    log = work / f"{server.name.replace(' ', '_')}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=server.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(proc, port, server.ready_path, log)
        warm = loadgen.run(port, server.requests, args.warmup, args.concurrency, client=client, timeout=60)
        if warm.bad:
            raise RuntimeError(f"{server.name}: {warm.bad} bad responses in the warm-up; see {log}")
        before = cpu_seconds(proc.pid)
        load = loadgen.run(port, server.requests, args.requests, args.concurrency, client=client, timeout=60)
        cpu_ms = (cpu_seconds(proc.pid) - before) * 1000 / max(1, load.completed)
        pss, rss = memory_mb(proc.pid)
    finally:
        stop(proc)
    if load.bad or load.completed < args.requests:
        raise RuntimeError(f"{server.name}: {load.bad} bad, {load.completed} of {args.requests} completed; see {log}")
    return load, pss, rss, cpu_ms


def servers(name: str, args: argparse.Namespace, work: Path) -> list[Server]:
    """Ours (default workers, then one worker) and txtai over the same texts, with the same questions."""
    corpus, qa_file, count = CORPORA[name]
    texts = ensure_our_index(corpus, work / "index")
    asked = questions(qa_file, args.questions if args.questions is not None else count)
    print(f"{name}: {len(texts)} passages, {len(asked)} questions", flush=True)
    env = our_env(corpus, work / "index")
    ours = [loadgen.Request("POST", "/ask", json.dumps({"question": q, "top_k": 10}).encode()) for q in asked]
    serve = [sys.executable, "-m", "qa.terminal.cli", "serve", "--host", "127.0.0.1", "--no-build"]
    out = [Server("ours", serve, env, "/readyz", ours)]  # ready once every worker is: its socket listens then
    if args.one_worker:
        out.append(Server("ours --workers 1", [*serve, "--workers", "1"], env, "/readyz", ours))
    for variant in args.variant:  # NAME:QA_X=1,QA_Y=2
        label, _, assignments = variant.partition(":")
        extra = dict(pair.split("=", 1) for pair in assignments.split(",") if pair)
        out.append(Server(f"ours {label}", serve, {**env, **extra}, "/readyz", ours))
    if not args.no_txtai:
        python = peer_txtai.ensure_venv(CACHE / "venvs" / "txtai")
        index = peer_txtai.ensure_index(python, texts, work / "txtai")
        command, peer_env = peer_txtai.server_command(python, index, work / "txtai.yml", 0)
        command[command.index("--port") + 1] = "{port}"
        theirs = [loadgen.Request("GET", f"/search?query={quote(q)}&limit=10") for q in asked]
        out.insert(1, Server("txtai", command, peer_env, "/search?query=warm&limit=1", theirs))
    return out


def report(name: str, results: dict[str, list[Result]]) -> None:
    """Medians per server, the ratio to txtai per round, p99/p50."""
    median: Callable[[list[float]], float] = statistics.median
    print(f"\n{name}: medians over {len(next(iter(results.values())))} rounds")
    head = ("server", "req/s", "p50 ms", "p99 ms", "p99/p50", "PSS MB", "RSS MB", "CPU ms/req")
    print(f"{head[0]:<18} " + " ".join(f"{h:>8}" for h in head[1:]))
    for server, runs in results.items():
        rate = median([r.rate for r, *_ in runs])
        p50, p99 = median([r.p50_ms for r, *_ in runs]), median([r.p99_ms for r, *_ in runs])
        measures = [(pss, rss, cpu) for _, pss, rss, cpu in runs]
        pss, rss, cpu = (median([m[i] for m in measures]) for i in range(3))
        line = f"{rate:8.1f} {p50:8.1f} {p99:8.1f} {p99 / p50:8.2f} {pss:8.0f} {rss:8.0f} {cpu:8.1f}"
        print(f"{server:<18} {line}")
    if "txtai" in results:
        for server, runs in results.items():
            if server != "txtai":
                ratios = [a[0].rate / b[0].rate for a, b in zip(runs, results["txtai"], strict=True)]
                each = ", ".join(f"{x:.2f}" for x in ratios)
                print(f"{server} / txtai req/s: median {median(ratios):.2f} (rounds {each})")


def main() -> None:
    """Parse flags, then measure each corpus in interleaved rounds."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", choices=["squad2", "seeds", "both"], default="both")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per server (default 3)")
    ap.add_argument("--requests", type=int, default=600, help="measured requests per server and round")
    ap.add_argument("--warmup", type=int, default=64, help="requests sent before each measured run")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--questions", type=int, default=None, help="questions to cycle through (default 300 / all)")
    ap.add_argument("--client", choices=["auto", "wrk", "asyncio"], default="auto", help="load generator")
    ap.add_argument("--one-worker", action=argparse.BooleanOptionalAction, default=True, help="also ours, 1 worker")
    ap.add_argument("--no-txtai", action="store_true", help="ours only (no peer venv needed)")
    ap.add_argument(
        "--variant", action="append", default=[], help="another server of ours, e.g. 'rt2:QA_REQUEST_THREADS=2'"
    )
    args = ap.parse_args()
    client = loadgen.pick_client(args.client)
    print(f"load: {client}, concurrency {args.concurrency}, {args.requests} requests after {args.warmup} warm-up")
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name in ["squad2", "seeds"] if args.corpus == "both" else [args.corpus]:
        work = CACHE / "throughput" / name
        work.mkdir(parents=True, exist_ok=True)
        plan = servers(name, args, work)
        results: dict[str, list[Result]] = {s.name: [] for s in plan}
        for round_no in range(1, args.rounds + 1):
            for server in plan:
                load, pss, rss, cpu = result = measure(server, args, client, work)
                results[server.name].append(result)
                print(
                    f"  round {round_no} {server.name:<18} {load.rate:7.1f} req/s  p50 {load.p50_ms:6.1f} ms  "
                    f"p99 {load.p99_ms:6.1f} ms  PSS {pss:5.0f} MB  RSS {rss:5.0f} MB  CPU {cpu:5.1f} ms/req",
                    flush=True,
                )
        report(name, results)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
