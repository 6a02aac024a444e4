"""Run a BEIR benchmark through the production pipeline: index, search every query, fold chunks, score."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from qa.base.settings import Settings
from qa.evaluation import beir
from qa.evaluation.metrics import Run, evaluate_run, fold_to_documents, write_trec_run
from qa.retrieval.rerank import Reranker, rerank
from qa.retrieval.search import search
from qa.store.embedding import Encoder, embed_all
from qa.store.index import Index
from qa.store.snapshot import Progress, build_from_documents

RUN_DEPTH = 100
CHUNKS_PER_DOCUMENT = 3


@dataclass(frozen=True)
class BeirResult:
    """Metrics of one benchmark run, the run itself, and where the time went."""

    metrics: dict[str, float]
    run: Run
    documents: int
    passages: int
    seconds: dict[str, float]


def run_beir(
    folder: Path,
    split: str,
    settings: Settings,
    encoder: Encoder,
    *,
    progress: Progress | None = None,
    run_out: Path | None = None,
    tag: str = "articleqa",
    reranker: Reranker | None = None,
) -> BeirResult:
    """Index the corpus in memory with the production pipeline, run the split's queries and score them."""
    say = progress or (lambda _msg: None)
    clock = time.perf_counter()
    docs = beir.load_corpus(folder)
    qrels = beir.load_qrels(folder, split)
    queries = beir.queries_for_split(beir.load_queries(folder), qrels)
    say(f"{len(docs)} documents, {len(queries)} {split} queries")
    sentences = (
        settings.search.fusion == "convex" and settings.search.sentence_weight > 0
    )  # the best-sentence signal needs them
    index = build_from_documents(docs, settings.build, encoder, progress=say, with_sentences=sentences)
    indexed = time.perf_counter()
    run = search_all(index, queries, settings, encoder, say, reranker=reranker)
    searched = time.perf_counter()
    if run_out is not None:
        write_trec_run(run, run_out, tag)
        say(f"wrote run file {run_out}")
    return BeirResult(
        metrics=evaluate_run(run, qrels),
        run=run,
        documents=len(docs),
        passages=index.manifest.passages,
        seconds={"index": round(indexed - clock, 2), "search": round(searched - indexed, 2)},
    )


def search_all(
    index: Index,
    queries: dict[str, str],
    settings: Settings,
    encoder: Encoder,
    say: Progress,
    *,
    reranker: Reranker | None = None,
) -> Run:
    """The top documents of every query: chunks retrieved as in production, folded by their best fused score.

    With a reranker the first ``rerank_depth`` chunks are reordered by it, and documents fold by their best rank
    (scored ``1 / rank``), since reranker and fused scores are not on one scale.
    """
    depth = RUN_DEPTH * CHUNKS_PER_DOCUMENT
    deep = dataclasses.replace(settings.search, candidates=max(settings.search.candidates, depth))
    ids = list(queries)
    vectors = embed_all(encoder, [queries[q] for q in ids], settings.build.batch_size, "queries", say)
    run: Run = {}
    for n, (qid, vector) in enumerate(zip(ids, vectors, strict=True), 1):
        hits = search(index, queries[qid], vector, deep, depth)
        if reranker is None:
            folded = fold_to_documents((h.passage.doc_id, h.scores.fused) for h in hits)
        else:
            hits = rerank(hits, queries[qid], reranker, settings.search.rerank_depth)
            folded = fold_to_documents((h.passage.doc_id, 1.0 / h.rank) for h in hits)
        run[qid] = dict(sorted(folded.items(), key=lambda kv: -kv[1])[:RUN_DEPTH])
        if n % 200 == 0:
            say(f"searched {n}/{len(ids)} queries")
    return run
