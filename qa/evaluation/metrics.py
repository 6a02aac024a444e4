"""Ranking metrics computed as trec_eval / pytrec_eval do, and TREC run files.

Ranking order is trec_eval's (``comp_sim_docno`` in ``form_res_rels.c``): score descending, and among equal
scores the document id descending by ``strcmp``; the rank field of a run file is ignored. Python compares
strings by code point, which orders UTF-8 ids as ``strcmp`` does.

Averages follow pytrec_eval and so BEIR: only queries present in both the run and the qrels count; queries of
the run with no qrels are ignored, and a judged query absent from the run is left out rather than scored 0.
Pass ``all_queries=True`` to average over every judged query instead, scoring absent ones 0 (``trec_eval -c``).
A relevance <= 0 means not relevant.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path

from qa.base.errors import InvalidInput
from qa.base.files import write_bytes_atomic

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]
Metric = Callable[[list[str], dict[str, int], int], float]
DIGITS = 4


def ranking(scores: dict[str, float]) -> list[str]:
    """Document ids in trec_eval order: score descending, ties by document id descending."""
    return sorted(scores, key=lambda doc: (scores[doc], doc), reverse=True)


def ndcg_at(run: Run, qrels: Qrels, k: int, *, all_queries: bool = False) -> float:
    """Mean nDCG@k (trec_eval ``ndcg_cut``): gain = relevance, discount log2(rank + 1), ideal from the qrels."""
    return _mean(run, qrels, k, _ndcg, all_queries)


def recall_at(run: Run, qrels: Qrels, k: int, *, all_queries: bool = False) -> float:
    """Mean recall@k (trec_eval ``recall``): relevant documents in the top k / relevant documents judged."""
    return _mean(run, qrels, k, _recall, all_queries)


def mrr_at(run: Run, qrels: Qrels, k: int, *, all_queries: bool = False) -> float:
    """Mean reciprocal rank of the first relevant document in the top k, 0 when there is none.

    trec_eval's ``recip_rank`` has no cutoff: this is it computed on the top k of each ranking.
    """
    return _mean(run, qrels, k, _rr, all_queries)


def evaluate_run(run: Run, qrels: Qrels, *, all_queries: bool = False) -> dict[str, float]:
    """nDCG@10, recall@10, recall@100 and MRR@10 rounded to 4 places, and how many queries were averaged."""
    return {
        "ndcg@10": round(ndcg_at(run, qrels, 10, all_queries=all_queries), DIGITS),
        "recall@10": round(recall_at(run, qrels, 10, all_queries=all_queries), DIGITS),
        "recall@100": round(recall_at(run, qrels, 100, all_queries=all_queries), DIGITS),
        "mrr@10": round(mrr_at(run, qrels, 10, all_queries=all_queries), DIGITS),
        "queries": len(_evaluated(run, qrels, all_queries)),
    }


def fold_to_documents(hits: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Document id -> best score among its retrieved chunks ("max-passage"), in order of first appearance."""
    best: dict[str, float] = {}
    for doc_id, score in hits:
        if doc_id not in best or score > best[doc_id]:
            best[doc_id] = score
    return best


def write_trec_run(run: Run, path: Path, tag: str) -> None:
    """Write ``qid Q0 docid rank score tag`` lines atomically: queries in run order, documents in trec_eval order.

    Scores are written with ``repr`` so they read back exactly; a query with no documents has no line.
    """
    _check_token("tag", tag)
    lines = []
    for qid, scores in run.items():
        _check_token("query id", qid)
        for rank, doc_id in enumerate(ranking(scores), 1):
            _check_token("document id", doc_id)
            score = float(scores[doc_id])
            if not math.isfinite(score):
                raise InvalidInput(f"score of {doc_id!r} for query {qid!r} is {score}; scores must be finite")
            lines.append(f"{qid} Q0 {doc_id} {rank} {score!r} {tag}\n")
    write_bytes_atomic(path, "".join(lines).encode())


def read_trec_run(path: Path) -> Run:
    """A run from a TREC run file (six whitespace-separated fields a line); the rank field is ignored."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"run file {path} does not exist; write it with write_trec_run first") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    run: Run = {}
    for lineno, line in enumerate(raw.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 6:
            raise InvalidInput(f"{path}:{lineno}: expected 6 fields (qid Q0 docid rank score tag), got {line!r}")
        qid, _, doc_id, _, raw_score, _ = fields
        try:
            score = float(raw_score)
        except ValueError:
            raise InvalidInput(f"{path}:{lineno}: score {raw_score!r} is not a number; fix the line") from None
        docs = run.setdefault(qid, {})
        if doc_id in docs:
            raise InvalidInput(f"{path}:{lineno}: document {doc_id!r} is listed twice for query {qid!r}")
        docs[doc_id] = score
    return run


def _ndcg(ranked: list[str], judged: dict[str, int], k: int) -> float:
    """nDCG@k of one ranking."""
    dcg = sum(judged[d] / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if judged.get(d, 0) > 0)
    ideal = sorted((r for r in judged.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def _recall(ranked: list[str], judged: dict[str, int], k: int) -> float:
    """Recall@k of one ranking."""
    relevant = sum(1 for r in judged.values() if r > 0)
    found = sum(1 for d in ranked[:k] if judged.get(d, 0) > 0)
    return found / relevant if relevant else 0.0


def _rr(ranked: list[str], judged: dict[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document within the top k."""
    return next((1.0 / (i + 1) for i, d in enumerate(ranked[:k]) if judged.get(d, 0) > 0), 0.0)


def _evaluated(run: Run, qrels: Qrels, all_queries: bool) -> list[str]:
    """The query ids averaged over: judged ones, and only those in the run unless ``all_queries``."""
    return [qid for qid in qrels if all_queries or qid in run]


def _mean(run: Run, qrels: Qrels, k: int, metric: Metric, all_queries: bool) -> float:
    """Mean of ``metric`` over the evaluated queries, 0 when there are none."""
    if k < 1:
        raise InvalidInput(f"cutoff k={k} must be at least 1")
    qids = _evaluated(run, qrels, all_queries)
    if not qids:
        return 0.0
    return math.fsum(metric(ranking(run.get(qid, {})), qrels[qid], k) for qid in qids) / len(qids)


def _check_token(what: str, value: str) -> None:
    """Fail when a run-file field is empty or holds whitespace (it would split into more fields)."""
    if not value or any(c.isspace() for c in value):
        raise InvalidInput(f"{what} {value!r} must be non-empty with no whitespace to go in a TREC run file")
