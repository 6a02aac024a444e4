"""Hybrid retrieval: FAISS dense search and BM25 keyword search, fused by weighted RRF or a convex sum."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qa.base.records import Hit, Scores
from qa.base.settings import SearchSettings
from qa.store.embedding import Vectors
from qa.store.index import Index, Mask
from qa.store.keyword import Rows

SENTENCE_DEPTH = 300


@dataclass(frozen=True)
class KeywordFound:
    """A query's BM25 side, which needs no query vector: every row's score (0 outside the filter) and the best rows."""

    scores: Vectors
    rows: list[int]


def keyword_found(index: Index, query: str, settings: SearchSettings, allowed: Mask | None = None) -> KeywordFound:
    """The BM25 scores of every row for ``query`` and its ``candidates`` best rows among the ``allowed`` ones."""
    scores, matched = index.keyword.scored(query)
    if allowed is not None:
        scores[~allowed] = 0.0
    return KeywordFound(scores, top_rows(scores, candidate_depth(index, settings), among=matched))


def candidate_depth(index: Index, settings: SearchSettings) -> int:
    """How many dense and keyword candidates a search fuses: ``candidates``, at most every row."""
    return min(settings.candidates, index.size)


def search(
    index: Index,
    query: str,
    query_vector: Vectors,
    settings: SearchSettings,
    top_k: int,
    *,
    allowed: Mask | None = None,
    boost: Mapping[str, float] | None = None,
    keyword: KeywordFound | None = None,
    aside: Executor | None = None,
) -> list[Hit]:
    """The ``top_k`` passages for a query, best first, with dense, keyword and fused scores.

    ``allowed`` restricts the rows searched (a filter); ``boost`` multiplies the fused score of each document's
    passages (recency), so it reorders passages of nearly equal scores only. ``keyword``: the query's
    :func:`keyword_found` with the same ``allowed``, when already computed (the engine does it while it embeds);
    ``aside``: threads that score the keyword rows' sentences while this one searches the dense index.
    """
    if not index.live_passages or (allowed is not None and not allowed.any()):
        return []
    depth = candidate_depth(index, settings)
    keyword = keyword or keyword_found(index, query, settings, allowed)
    all_keyword, keyword_rows = keyword.scores, keyword.rows
    sentences = settings.fusion == "convex" and settings.sentence_weight != 0 and index.sentences.live_count() > 0
    if sentences and aside is not None:  # the keyword rows' sentences are scored while the dense search runs
        side: Future[_Cosines] | None = aside.submit(_cosines, index, query_vector, keyword_rows)
    else:
        side = None
    found = index.dense_search(query_vector, depth, allowed, nprobe=settings.dense_nprobe)
    dense = dict(found)
    dense_ranked = [row for row, _ in found]

    missing = [r for r in keyword_rows if r not in dense]
    for row, vector in zip(missing, index.vectors_of(missing), strict=True):
        dense[row] = float(vector @ query_vector)
    if settings.fusion == "convex":
        fused = _convex(dense, {r: float(all_keyword[r]) for r in keyword_rows}, settings)
        sentence = _best_sentences(index, query_vector, keyword_rows, dense_ranked, side) if sentences else {}
        for row, value in sentence.items():
            fused[row] += settings.sentence_weight * value
    else:
        fused = _rrf([dense_ranked, keyword_rows], [settings.dense_weight, settings.keyword_weight], settings.rrf_k)
        sentence = {}
    if boost:
        fused = {r: f * boost.get(index.passages[r].doc_id, 1.0) for r, f in fused.items()}
    order = sorted(fused, key=lambda r: (-fused[r], -dense[r], r))[:top_k]
    return [
        Hit(
            rank=rank,
            passage=index.passages[row],
            title=index.title(index.passages[row].doc_id),
            scores=Scores(
                dense=dense[row], keyword=float(all_keyword[row]), sentence=sentence.get(row), fused=fused[row]
            ),
        )
        for rank, row in enumerate(order, 1)
    ]


def top_rows(scores: Vectors, depth: int, among: Sequence[Rows] | None = None) -> list[int]:
    """The ``depth`` rows of highest positive score, ties by row: what a stable sort gives, in time linear in N.

    ``among``: arrays of distinct rows whose union holds every row of positive score (a query's posting lists):
    only their rows are looked at, not all N (keyword scores and top rows at 1M 4.0 -> 2.7 ms, bench/README.md).
    """
    rows = np.flatnonzero(scores > 0) if among is None else _contenders(scores, depth, among)
    if len(rows) > depth:
        kth = np.partition(scores[rows], len(rows) - depth)[len(rows) - depth]
        rows = rows[scores[rows] >= kth]
    order = np.lexsort((rows, -scores[rows]))[:depth]
    return [int(r) for r in rows[order]]


def _contenders(scores: Vectors, depth: int, among: Sequence[Rows]) -> Rows:
    """The rows of ``among`` (sorted, once each) scoring at least a lower bound of the ``depth``-th best positive score.

    The bound is the ``depth``-th best positive score within the shortest array that has that many: those rows are
    distinct, so at least ``depth`` rows score that much; without such an array, every positive row.
    """
    lists = sorted((rows for rows in among if len(rows)), key=len)
    floor = None
    for rows in lists:
        values = scores[rows]
        values = values[values > 0]
        if len(values) >= depth:
            floor = np.partition(values, len(values) - depth)[len(values) - depth]
            break
    kept = [rows[scores[rows] >= floor] if floor is not None else rows[scores[rows] > 0] for rows in lists]
    return np.unique(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class _Cosines:
    """Some candidate passages' sentences scored against a query."""

    rows: list[int]  # the candidate passages
    which: npt.NDArray[np.intp]  # (candidate, sentence row) pairs: the candidate's place in ``rows``
    inside: Rows  # and the sentence row
    sentences: Rows  # the sentence rows scored, sorted, once each
    sims: Vectors  # their cosines


def _best_sentences(
    index: Index, query_vector: Vectors, keyword_rows: list[int], dense_rows: list[int], side: Future[_Cosines] | None
) -> dict[int, float]:
    """Each candidate passage's best sentence cosine, scaled so the ``SENTENCE_DEPTH``-th best sentence of the
    candidates is 0 and their best 1; ``side``: the keyword rows' cosines, scored in another thread.

    A claim or question is often answered by one sentence; a passage holding that sentence gains even when the
    rest of it is about something else. Only the candidates' sentences are scored, so the cost follows the
    candidates, not the archive; when every live passage is a candidate (a small archive) the scale is the
    corpus's.
    """
    held = set(keyword_rows)
    rest = [r for r in dense_rows if r not in held]
    if side is None:  # in line: one read of all the candidates' sentences
        return _scaled([_cosines(index, query_vector, keyword_rows + rest)])
    return _scaled([side.result(), _cosines(index, query_vector, rest)])


def _cosines(index: Index, query_vector: Vectors, rows: list[int]) -> _Cosines:
    """The cosine of every live sentence inside the passages ``rows`` with the query."""
    table = index.sentences
    which, inside = table.rows_inside_ranges(index.passages.bounds_many(np.asarray(rows, dtype=np.int64)))
    every = np.unique(inside)
    return _Cosines(rows, which, inside, every, (table.vectors_at(every) @ query_vector).astype(np.float32))


def _scaled(parts: Sequence[_Cosines]) -> dict[int, float]:
    """Each candidate passage's best sentence cosine, scaled so the ``SENTENCE_DEPTH``-th best sentence of the
    candidates is 0 and their best 1 (a sentence inside candidates of two parts counts once, with one cosine)."""
    every, first = np.unique(np.concatenate([p.sentences for p in parts]), return_index=True)
    if not len(every):
        return {}
    sims = np.concatenate([p.sims for p in parts])[first]
    depth = min(SENTENCE_DEPTH, len(every))
    lo, hi = float(np.partition(sims, -depth)[-depth]), float(sims.max())
    if hi <= lo:
        return {}
    scaled: dict[int, float] = {}
    for part in parts:
        best = np.full(len(part.rows), -np.inf, dtype=np.float32)
        np.maximum.at(best, part.which, sims[np.searchsorted(every, part.inside)])
        found = np.unique(part.which)
        values = np.maximum(0.0, (best[found].astype(np.float64) - lo) / (hi - lo))
        scaled.update(zip([part.rows[i] for i in found.tolist()], values.tolist(), strict=True))
    return scaled


def _rrf(rankings: list[list[int]], weights: list[float], k: int) -> dict[int, float]:
    """Weighted reciprocal-rank fusion: sum of weight / (k + rank) over the rankings a row appears in."""
    fused: dict[int, float] = {}
    for weight, ranked in zip(weights, rankings, strict=True):
        for rank, row in enumerate(ranked, 1):
            fused[row] = fused.get(row, 0.0) + weight / (k + rank)
    return fused


def _convex(dense: dict[int, float], keyword: dict[int, float], settings: SearchSettings) -> dict[int, float]:
    """Weighted sum of min-max normalised dense and keyword scores over the candidates."""
    rows = set(dense) | set(keyword)
    d_lo, d_hi = min(dense.values()), max(dense.values())
    k_hi = max(keyword.values(), default=0.0)
    total = settings.dense_weight + settings.keyword_weight
    return {
        r: (
            settings.dense_weight * ((dense[r] - d_lo) / (d_hi - d_lo) if d_hi > d_lo else 1.0)
            + settings.keyword_weight * (keyword.get(r, 0.0) / k_hi if k_hi > 0 else 0.0)
        )
        / total
        for r in rows
    }
