"""Torch fp32 (SentenceEncoder) against ONNX int8 (OnnxEncoder) on SciFact: speed, agreement, batch dependence."""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qa.base.settings import DEFAULT_MODEL
from qa.store.embedding import SentenceEncoder, Vectors
from qa.store.onnx_encoder import OnnxEncoder

SCIFACT = Path("/work/shared/bench/scifact")


def read_jsonl(path: Path, limit: int) -> list[dict[str, str]]:
    """The first ``limit`` records of a JSON-lines file."""
    with path.open() as fh:
        return [json.loads(line) for line in itertools.islice(fh, limit)]


def padded(encoder: OnnxEncoder, texts: list[str], batch_size: int) -> Vectors:
    """What batching would give: texts padded to the longest of each batch, one int8 run per batch."""
    out = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
    for first in range(0, len(texts), batch_size):
        encodings = encoder._tokenizer.encode_batch(texts[first : first + batch_size])
        ids = np.zeros((len(encodings), max(len(e.ids) for e in encodings)), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)], mask[row, : len(e.ids)] = e.ids, 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = encoder._session.run(None, feeds)[0]
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        out[first : first + len(encodings)] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    return out


def worst(a: Vectors, b: Vectors) -> float:
    """The largest 1 - cosine between matching rows of two sets of unit vectors."""
    return float(1.0 - (a * b).sum(axis=1).min())


def timed(encode: Callable[[list[str]], Vectors], texts: list[str]) -> tuple[Vectors, float]:
    """Vectors and wall seconds of one ``encode(texts)`` call."""
    started = time.perf_counter()
    vectors = encode(texts)
    return vectors, time.perf_counter() - started


def main() -> None:
    """Encode the abstracts and queries with both backends and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=2000, help="first N SciFact abstracts")
    ap.add_argument("--queries", type=int, default=200, help="first N SciFact claims, embedded one at a time")
    ap.add_argument("--batch-texts", type=int, default=512, help="abstracts used for the padded-batch figures")
    ap.add_argument("--cache", type=Path, default=None, help="ONNX cache folder (default: a fresh temporary one)")
    args = ap.parse_args()
    docs = [f"{d['title']}\n\n{d['text']}" for d in read_jsonl(SCIFACT / "corpus.jsonl", args.docs)]
    queries = [q["text"] for q in read_jsonl(SCIFACT / "queries.jsonl", args.queries)]
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp) / "onnx"
        torch_enc = SentenceEncoder(DEFAULT_MODEL)
        started = time.perf_counter()
        onnx_enc = OnnxEncoder(DEFAULT_MODEL, cache)
        print(f"ONNX encoder ready in {time.perf_counter() - started:.1f}s (export + int8 quantisation if not cached)")
        sizes = {p.name: round(p.stat().st_size / 1e6, 1) for p in sorted(cache.glob("*.onnx"))}
        print(f"cache files (MB): {sizes}; load average {Path('/proc/loadavg').read_text().split()[0]} on 2 cores")
        torch_enc.encode(docs[:8]), onnx_enc.encode(docs[:8])  # warm up
        ref, t_torch = timed(lambda t: torch_enc.encode(t, batch_size=32), docs)
        got, t_onnx = timed(onnx_enc.encode, docs)
        print(f"{len(docs)} abstracts (<= {onnx_enc.max_tokens} tokens each):")
        print(f"  torch fp32 batch 32:       {len(docs) / t_torch:6.1f} chunks/s ({t_torch:.1f}s)")
        print(f"  onnx int8 one text a run:  {len(docs) / t_onnx:6.1f} chunks/s ({t_onnx:.1f}s)")
        cos = (ref * got).sum(axis=1)
        print(f"  cosine fp32 vs int8: mean {cos.mean():.5f}  min {cos.min():.5f}  p1 {np.percentile(cos, 1):.5f}")

        for name, encode in (("torch fp32", torch_enc.encode), ("onnx int8", onnx_enc.encode)):
            encode(queries[:5])
            times = []
            for q in queries:
                started = time.perf_counter()
                encode([q])
                times.append(time.perf_counter() - started)
            p95 = statistics.quantiles(times, n=20)[-1]
            print(f"  {name} single query: p50 {statistics.median(times) * 1e3:.1f} ms  p95 {p95 * 1e3:.1f} ms")

        qcos = (torch_enc.encode(queries) * onnx_enc.encode(queries)).sum(axis=1)
        print(f"  cosine fp32 vs int8 on the queries: mean {qcos.mean():.5f}  min {qcos.min():.5f}")

        sample = docs[: args.batch_texts]
        shuffled = random.Random(7).sample(range(len(sample)), len(sample))
        again = onnx_enc.encode([sample[i] for i in shuffled])
        alone = np.stack([onnx_enc.encode([text])[0] for text in sample[:64]])
        print(f"batch dependence, max (1 - cosine) for the same text, over {len(sample)} abstracts:")
        print(f"  OnnxEncoder, shuffled order vs original: {worst(got[shuffled], again):.6f}")
        print(f"  OnnxEncoder, alone vs in the full list:  {worst(got[:64], alone):.6f}")
        b32, b64, b8 = (padded(onnx_enc, sample, n) for n in (32, 64, 8))
        order = sorted(range(len(sample)), key=lambda i: len(sample[i]))
        s32 = np.zeros_like(b32)
        s32[order], t_sorted = timed(lambda t: padded(onnx_enc, t, 32), [sample[i] for i in order])
        _, t_one = timed(onnx_enc.encode, sample)
        print(f"  padded int8 batches 32 vs 64:            {worst(b32, b64):.6f}")
        print(f"  padded int8 batches 8 vs 32:             {worst(b8, b32):.6f}")
        print(f"  padded int8 length-sorted 32 vs unsorted 32: {worst(s32, b32):.6f}")
        print(f"  padded int8 length-sorted 32 vs one a run:   {worst(s32, got[: len(sample)]):.6f}")
        rates = f"one a run {len(sample) / t_one:.1f}/s, length-sorted padded 32 {len(sample) / t_sorted:.1f}/s"
        print(f"  int8 speed on these abstracts: {rates}")
        t32 = torch_enc.encode(sample, batch_size=32)
        t64 = torch_enc.encode(sample, batch_size=64)
        print(f"  torch fp32 batches 32 vs 64:             {worst(t32, t64):.6f}")
        print(f"  cosine to fp32, padded int8 batch 32: mean {(ref[: len(sample)] * b32).sum(1).mean():.5f}")


if __name__ == "__main__":
    main()
