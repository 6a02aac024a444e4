"""POST /ask latency over loopback: builds the seed index, serves it with uvicorn, prints p50/p95 and build time."""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of the values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    """Build, serve on 127.0.0.1, send each dev question ``--rounds`` times, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3, help="times each dev question is asked (bounded)")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--backend", choices=["onnx", "torch"], default="onnx", help="embedding backend (default onnx)")
    args = ap.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    questions = [json.loads(line)["question"] for line in (ROOT / "tests/data/dev_qa.jsonl").read_text().splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.of(
            corpus_dir=ROOT / "seeds", index_dir=Path(tmp) / "index", port=args.port, embed_backend=args.backend
        )
        started = time.perf_counter()
        engine = Engine.open(settings, build=True)
        built = time.perf_counter()
        ready = engine.readiness()
        print(
            f"{args.backend}: model load and index build {built - started:.2f}s (ONNX: export included) "
            f"({ready.documents} documents, {ready.passages} passages)"
        )
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=args.port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{args.port}"
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(100):
                if server.started:
                    break
                time.sleep(0.1)
            client.post("/ask", json={"question": "warm up"}).raise_for_status()
            wall: list[float] = []
            inside: list[float] = []
            for _ in range(args.rounds):
                for question in questions:
                    t0 = time.perf_counter()
                    response = client.post("/ask", json={"question": question, "top_k": 5})
                    wall.append((time.perf_counter() - t0) * 1000)
                    response.raise_for_status()
                    inside.append(response.json()["timings_ms"]["total"])
        server.should_exit = True
        thread.join(timeout=10)
    print(
        f"POST /ask over loopback, {len(wall)} requests: p50 {percentile(wall, 50):.1f} ms, "
        f"p95 {percentile(wall, 95):.1f} ms, mean {statistics.fmean(wall):.1f} ms"
    )
    print(f"engine time inside the request: p50 {percentile(inside, 50):.1f} ms, p95 {percentile(inside, 95):.1f} ms")


if __name__ == "__main__":
    main()
