"""Our pipeline against the raw floor (sentence-transformers + FAISS called directly) on the same SciFact data.

Prints passages/s of corpus embedding, index build time, and per-query retrieval latency p50/p95, each with
the floor beside it and the ratio. Bounded: ``--docs`` abstracts and ``--queries`` queries (loopback-free,
in-process).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import faiss
import numpy as np

from qa.base.settings import Settings
from qa.evaluation import beir
from qa.retrieval.search import search
from qa.store.embedding import SentenceEncoder
from qa.store.index import embed_input
from qa.store.snapshot import build_from_documents

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "bench" / "scifact"


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    """Time both pipelines and print the figures side by side."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--beir", type=Path, default=SCIFACT)
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    settings = Settings()
    encoder = SentenceEncoder(settings.build.model)
    docs = beir.load_corpus(args.beir)[: args.docs]
    queries = list(beir.load_queries(args.beir).values())[: args.queries]
    encoder.encode(["warm up"])

    started = time.perf_counter()
    index = build_from_documents(docs, settings.build, encoder, with_sentences=False)
    ours_build = time.perf_counter() - started
    texts = [
        embed_input(
            index.title(p.doc_id),
            p.text,
            settings.build.embed_title or i == 0 or index.passages[i - 1].doc_id != p.doc_id,
        )
        for i, p in enumerate(index.passages)
    ]

    started = time.perf_counter()
    vectors = encoder.model.encode(texts, batch_size=settings.build.batch_size, normalize_embeddings=True)
    floor_embed = time.perf_counter() - started
    raw = faiss.IndexFlatIP(vectors.shape[1])
    raw.add(np.asarray(vectors, dtype=np.float32))
    floor_build = time.perf_counter() - started

    started = time.perf_counter()
    encoder.encode(texts, batch_size=settings.build.batch_size)
    ours_embed = time.perf_counter() - started

    ours_q: list[float] = []
    floor_q: list[float] = []
    for query in queries:
        t0 = time.perf_counter()
        qv = encoder.model.encode([query], normalize_embeddings=True)
        raw.search(np.asarray(qv, dtype=np.float32), 10)
        floor_q.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        search(index, query, encoder.encode([query])[0], settings.search, 10)
        ours_q.append((time.perf_counter() - t0) * 1000)

    n = len(texts)
    print(f"{len(docs)} documents -> {n} passages; {len(queries)} queries")
    print(
        f"embedding: ours {n / ours_embed:.1f} passages/s, floor {n / floor_embed:.1f} passages/s, "
        f"ratio {floor_embed and ours_embed / floor_embed:.3f}"
    )
    print(
        f"index build: ours {ours_build:.2f} s (chunking, embedding, BM25), floor {floor_build:.2f} s "
        f"(embedding, FAISS), ratio {ours_build / floor_build:.3f}"
    )
    for name, q in (("p50", 50), ("p95", 95)):
        print(
            f"query {name}: ours {pct(ours_q, q):.2f} ms (embed, FAISS, BM25, fusion), floor {pct(floor_q, q):.2f} ms "
            f"(embed, FAISS), ratio {pct(ours_q, q) / pct(floor_q, q):.3f}"
        )
    print(f"query mean: ours {statistics.fmean(ours_q):.2f} ms, floor {statistics.fmean(floor_q):.2f} ms")


if __name__ == "__main__":
    main()
