"""Load on a living archive: ``qa serve`` in its own process, mostly questions with some writes, over loopback.

1. Mixed load: ``--requests`` requests (default 10,000) from ``--concurrency`` (default 32) concurrent clients,
   ~95% ``POST /ask`` with the dev questions, the rest writes of generated articles (adds, replacements,
   deletes). Prints errors (should be 0), throughput, p50/p99 per kind, and the server's RSS at start, at the
   end and its peak (sampled from /proc every 0.25 s).
2. Interference: ``POST /ask`` latency from one client on a quiet index and while a writer thread keeps writing,
   in interleaved blocks (quiet, writing, quiet, ...), medians per condition and their ratio.

The server runs on a copy of an index folder (``--index``, e.g. one built by ``qa index`` with its ``onnx/``
export) or, by default, on the seeds indexed first by ``qa index`` in a temporary folder. 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
from serving import QA, served

ROOT = Path(__file__).resolve().parent.parent
KEY = "load-bench-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
PLACES = ["Gwadar", "Quetta", "Sukkur", "Hunza", "Multan", "Thatta", "Chitral", "Kasur", "Turbat", "Mardan"]
THINGS = ["ferry", "clinic", "canal", "bridge", "school", "solar farm", "water plant", "rail link", "market", "dam"]
VERBS = ["opened", "closed", "was repaired", "was expanded", "was inspected", "was delayed", "was funded"]


def article(rng: random.Random, n: int) -> dict[str, str]:
    """A generated news article of one to six sentences (one or two passages)."""
    sentences = [
        f"The {rng.choice(THINGS)} in {rng.choice(PLACES)} {rng.choice(VERBS)} on {rng.randint(1, 28)} May "
        f"{rng.randint(2019, 2025)}, officials said, at a cost of {rng.randint(2, 900)} million rupees."
        for _ in range(rng.randint(1, 6))
    ]
    title = f"{rng.choice(PLACES)} {rng.choice(THINGS)} report {n}"
    return {"title": title, "text": f"{title}\n\n" + " ".join(sentences), "date": f"2024-06-{rng.randint(10, 28)}"}


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Writes:
    """Generated articles: adds of new ids, replacements and deletes of ids that exist and are not being written."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.count, self.idle, self.kinds = rng, 0, [], ["add", "replace", "delete"]
        self.lock = threading.Lock()

    def next(self) -> tuple[str, str, str, dict[str, str] | None]:
        """(kind, method, path, body) of the next write; the id is busy until ``done``."""
        with self.lock:
            kind = self.rng.choice(self.kinds) if self.idle else "add"
            self.count += 1
            if kind == "add":
                doc_id = f"load-{self.count}"
                return kind, "POST", "/documents", {"id": doc_id, **article(self.rng, self.count)}
            doc_id = self.idle.pop(self.rng.randrange(len(self.idle)))
            if kind == "replace":
                return kind, "PUT", f"/documents/{doc_id}", article(self.rng, self.count)
            return kind, "DELETE", f"/documents/{doc_id}", None

    def done(self, kind: str, path: str, body: dict[str, str] | None, ok: bool) -> None:
        """The write finished: its id is free again unless it was deleted."""
        doc_id = body["id"] if kind == "add" and body else path.rsplit("/", 1)[-1]
        with self.lock:
            if (ok and kind != "delete") or (not ok and kind != "add"):
                self.idle.append(doc_id)


async def mixed(port: int, questions: list[str], total: int, concurrency: int, share: float, seed: int) -> dict:
    """Send ``total`` requests from ``concurrency`` workers; latencies per kind, errors and wall time."""
    rng = random.Random(seed)
    writes = Writes(random.Random(seed + 1))
    plan = ["write" if rng.random() < share else "ask" for _ in range(total)]
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    cursor = iter(enumerate(plan))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits) as client:

        async def worker() -> None:
            for n, kind in cursor:
                began = time.perf_counter()
                if kind == "ask":
                    body = {"question": questions[n % len(questions)], "top_k": 5}
                    name, request = "ask", client.post("/ask", json=body)
                    wrote = None
                else:
                    name, method, path, doc = writes.next()
                    request = client.request(method, path, json=doc, headers=AUTH)
                    wrote = (name, path, doc)
                try:
                    response = await request
                    ok = response.status_code < 300
                    if not ok:
                        errors.append(f"{name} {response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as exc:
                    ok = False
                    errors.append(f"{name}: {type(exc).__name__} {exc}")
                latencies[name].append((time.perf_counter() - began) * 1000)
                if wrote is not None:
                    writes.done(*wrote, ok)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    return {"latencies": latencies, "errors": errors, "wall": wall}


def interference(port: int, questions: list[str], blocks: int, per_block: int, seed: int) -> dict[str, list[float]]:
    """``/ask`` latencies from one client, in alternating quiet and writing blocks (a writer thread writes)."""
    writing, stop = threading.Event(), threading.Event()
    writes = Writes(random.Random(seed))
    wrote = [0, 0]  # writes done, writes that failed

    def writer() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            while not stop.is_set():
                if not writing.wait(0.05):
                    continue
                kind, method, path, doc = writes.next()
                response = client.request(method, path, json=doc, headers=AUTH)
                writes.done(kind, path, doc, response.status_code < 300)
                wrote[0 if response.status_code < 300 else 1] += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    out: dict[str, list[float]] = {"quiet": [], "writing": []}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        for block in range(blocks):
            condition = "writing" if block % 2 else "quiet"
            if condition == "writing":
                writing.set()
                time.sleep(0.5)  # let the writer get going
            for n in range(per_block):
                began = time.perf_counter()
                response = client.post("/ask", json={"question": questions[(block * per_block + n) % len(questions)]})
                out[condition].append((time.perf_counter() - began) * 1000)
                response.raise_for_status()
            writing.clear()
            time.sleep(0.5 if condition == "writing" else 0)  # let the last write finish
    stop.set()
    thread.join(timeout=120)
    print(f"interference: {wrote[0]} writes during the writing blocks, {wrote[1]} failed", flush=True)
    return out


def main() -> None:
    """Prepare the index, start the server, run both parts, print the tables."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--write-share", type=float, default=0.05)
    ap.add_argument("--blocks", type=int, default=8, help="interleaved blocks, half quiet, half writing")
    ap.add_argument("--block-asks", type=int, default=40, help="questions per block")
    ap.add_argument("--index", type=Path, help="index folder to copy (with its onnx/); default: index the seeds")
    ap.add_argument("--corpus", type=Path, default=ROOT / "seeds")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    questions = [json.loads(line)["question"] for line in (ROOT / "tests/data/dev_qa.jsonl").read_text().splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        index, corpus = Path(tmp) / "index", Path(tmp) / "corpus"
        shutil.copytree(args.corpus, corpus)
        if args.index:
            shutil.copytree(args.index, index, ignore=shutil.ignore_patterns(".lock"))
        else:
            env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {"PYTHONPATH": str(ROOT)}
            subprocess.run([*QA, "index", "--index", str(index), "--corpus", str(corpus)], env=env, check=True)
        with served(index, corpus, Path(tmp) / "serve.log", env={"QA_API_KEYS": KEY}, within=180, poll=0.05) as (
            port,
            pid,
            ready,
        ):
            print(f"server ready in {ready:.1f} s (pid {pid}, port {port})", flush=True)
            samples = [rss_mb(pid)]
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.25):
                    samples.append(rss_mb(pid))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            result = asyncio.run(mixed(port, questions, args.requests, args.concurrency, args.write_share, args.seed))
            end_rss = rss_mb(pid)
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz").json()
            quiet_vs_writing = interference(port, questions, args.blocks, args.block_asks, args.seed + 2)
            done.set()
            sampler.join(timeout=5)
    report(args, result, samples, end_rss, ready, quiet_vs_writing)


def report(
    args: argparse.Namespace, result: dict, samples: list[float], end_rss: float, ready: dict, inter: dict
) -> None:
    """Print the figures as Markdown tables."""
    latencies, errors, wall = result["latencies"], result["errors"], result["wall"]
    sent = sum(len(v) for v in latencies.values())
    print(
        f"\n{sent:,} requests at concurrency {args.concurrency} in {wall:.1f} s: {sent / wall:.1f} requests/s, "
        f"{len(errors)} errors; index now {ready['documents']} documents, {ready['passages']} passages"
    )
    for error in errors[:5]:
        print(f"  error: {error}")
    print("\n| kind | requests | p50 ms | p99 ms |\n| --- | --- | --- | --- |")
    for kind in ("ask", "add", "replace", "delete"):
        values = latencies.get(kind, [])
        if values:
            print(f"| {kind} | {len(values):,} | {pct(values, 50):.1f} | {pct(values, 99):.1f} |")
    print(
        f"\nserver RSS: {samples[0]:.0f} MB at start, {end_rss:.0f} MB at the end, peak {max(samples):.0f} MB "
        f"({len(samples)} samples)"
    )
    quiet, writing = statistics.median(inter["quiet"]), statistics.median(inter["writing"])
    print("\n| /ask, one client | asks | median ms | p99 ms |\n| --- | --- | --- | --- |")
    for name in ("quiet", "writing"):
        values = inter[name]
        print(f"| {name} | {len(values)} | {statistics.median(values):.1f} | {pct(values, 99):.1f} |")
    print(f"\nwhile writing / quiet (medians): {writing / quiet:.2f}")


if __name__ == "__main__":
    main()
