"""Hybrid retrieval: FAISS dense search and BM25 keyword search, fused by weighted reciprocal rank."""

from __future__ import annotations

import numpy as np

from qa.config import Settings
from qa.embedding import Vectors
from qa.index import Index, dense_vectors
from qa.records import Hit, Scores


def search(index: Index, query: str, query_vector: Vectors, settings: Settings, top_k: int) -> list[Hit]:
    """The ``top_k`` passages for a query, best first, with dense, keyword and fused scores."""
    total = index.dense.ntotal
    if total == 0:
        return []
    depth = min(settings.candidates, total)
    dense_scores, dense_rows = index.dense.search(query_vector.reshape(1, -1), depth)
    dense = {int(r): float(s) for r, s in zip(dense_rows[0], dense_scores[0], strict=True) if r >= 0}
    all_keyword = index.keyword.scores(query)
    keyword_rows = [int(r) for r in np.argsort(-all_keyword, kind="stable")[:depth] if all_keyword[r] > 0]

    fused: dict[int, float] = {}
    for weight, ranked in ((settings.dense_weight, list(dense)), (settings.keyword_weight, keyword_rows)):
        for rank, row in enumerate(ranked, 1):
            fused[row] = fused.get(row, 0.0) + weight / (settings.rrf_k + rank)

    missing = [r for r in fused if r not in dense]
    for row, vector in zip(missing, dense_vectors(index, missing), strict=True):
        dense[row] = float(vector @ query_vector)
    order = sorted(fused, key=lambda r: (-fused[r], -dense[r], r))[:top_k]
    return [
        Hit(
            rank=rank,
            passage=index.passages[row],
            title=index.title(index.passages[row].doc_id),
            scores=Scores(dense=dense[row], keyword=float(all_keyword[row]), fused=fused[row]),
        )
        for rank, row in enumerate(order, 1)
    ]
