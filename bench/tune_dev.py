"""Grid over chunk settings and fusion weights on the dev set; prints one line per setting."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

from qa.base.settings import Settings
from qa.evaluation.questions import evaluate, load_questions
from qa.service.engine import Engine
from qa.store.corpus import load_corpus
from qa.store.embedding import SentenceEncoder
from qa.store.snapshot import build_from_documents


def main() -> None:
    """Print hit@1, hit@5, MRR@10 and abstention figures for every combination asked for."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=Path, default=Path("tests/data/dev_qa.jsonl"))
    ap.add_argument("--chunk", type=int, nargs="+", default=[224])
    ap.add_argument("--overlap", type=int, nargs="+", default=[56])
    ap.add_argument("--dense-weight", type=float, nargs="+", default=[1.0])
    ap.add_argument("--keyword-weight", type=float, nargs="+", default=[1.0])
    ap.add_argument("--title", action="store_true", help="prefix each passage with its title when embedding")
    ap.add_argument("--fusion", nargs="+", default=["convex"])
    ap.add_argument("--rrf-k", type=int, nargs="+", default=[60])
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    encoder = SentenceEncoder()
    docs = load_corpus(Path("seeds"))
    questions = load_questions(args.questions)
    for chunk, overlap in itertools.product(args.chunk, args.overlap):
        if overlap >= chunk:
            continue
        base = Settings.of(chunk_tokens=chunk, chunk_overlap=overlap, embed_title=args.title)
        started = time.perf_counter()
        index = build_from_documents(docs, base, encoder)
        built = time.perf_counter() - started
        grid = itertools.product(args.dense_weight, args.keyword_weight, args.fusion, args.rrf_k)
        for dw, kw, fusion, rrf_k in grid:
            settings = base.replace(dense_weight=dw, keyword_weight=kw, fusion=fusion, rrf_k=rrf_k)
            engine = Engine(settings, encoder, index)
            confs = []

            def ask(q: str, engine: Engine = engine, confs: list[float] = confs):  # type: ignore[no-untyped-def]
                a = engine.ask(q, top_k=10)
                confs.append(a.confidence)
                return a

            r = evaluate(questions, ask)
            print(
                f"chunk={chunk} overlap={overlap} title={args.title} {fusion} k={rrf_k} dw={dw} kw={kw} "
                f"passages={index.manifest.passages} "
                f"build={built:.1f}s hit1={r.hit_at_1} hit5={r.hit_at_5} mrr={r.mrr_at_10} "
                f"multi={r.multi_coverage} abst={r.abstention_accuracy} wrong_abst={r.answerable_abstained} "
                f"answer_match={r.answer_match}",
                flush=True,
            )
            if args.verbose:
                for m in r.misses:
                    print("   miss", m)
                for q, c in zip(questions, confs, strict=True):
                    print(f"   conf {c:.3f} {q.type} {q.id}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
