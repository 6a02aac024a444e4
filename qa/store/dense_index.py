"""Dense vector indexes chosen by size: exact flat below a threshold, IVF-PQ with exact re-scoring above.

An IVF-PQ index keeps 48 bytes per vector (product-quantised residuals in ``nlist`` inverted lists); a search
scans ``nprobe`` lists, then re-scores ``rescore`` times the rows asked for exactly from float16 copies of the
vectors (a memory-mapped .npy file, so only the candidates' pages are read). ``nprobe`` is chosen at build as the
smallest one, from about sqrt(nlist) up, whose recall@10 against flat, measured on held-out rows of the index,
reaches ``RECALL_TARGET``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faiss
import msgspec
import numpy as np
import numpy.typing as npt

from qa.base.errors import ConfigError
from qa.store.mapping import gather, randomly

KINDS = ("auto", "flat", "ivfpq")
MIN_ROWS = 256  # fewer passages than this stay flat: 8-bit product quantisation trains 256 centroids
RECALL_K = 10
RECALL_QUERIES = 200
RECALL_TARGET = 0.97
# Held-out rows understate how hard real questions are (their neighbours' scores are flatter): on 1,000 SQuAD
# questions, re-scoring 32x, recall@10 of the first 10 of 100 against exact search was 0.947 / 0.977 / 0.995 at
# nprobe 8 / 16 / 32 of 256 lists (100k passages) and 0.958 / 0.981 / 0.990 / 0.992 at 8 / 16 / 32 / 64 of 1,024
# lists (1M), while held-out rows gave 0.99 or more from nprobe 4 up (bench/README.md, "The HTTP side, the prompt,
# keyword rows, fewer lists"). Questions need about sqrt(nlist) lists: so many are probed whatever the rows say.
RESCORE = 32  # candidates re-scored exactly per row asked for, up to RESCORE_ROWS rows
# Fusion asks for 100 dense candidates; re-scoring 32x all of them (3,200 scattered rows of the float16 file) cost
# ~30 ms warm and ~570 ms cold at 1M. On 100 SQuAD questions at 1M (nprobe 64), re-scoring 320 / 640 / 3,200 gave
# recall@10 0.984 / 0.993 / 1.000 and recall@100 0.915 / 0.974 / 0.997 of exact search: the first rows asked for
# carry the recall goal, the rest only feed the fusion.
RESCORE_ROWS = 20
NPROBES = (4, 8, 16, 32, 64, 128, 256)
TRAIN_PER_LIST = 64  # training sample: this many vectors per inverted list (k-means' own advice is 39 to 256)
SEED = 1234
# FAISS's OpenMP threads for IVF-PQ work (training, the recall measure, searching): on a busy machine its threads spin
# against each other (training 38.2 s on 2 threads, 5.3 s on 1, bench/README.md "A million passages"), and requests
# already run in parallel across the server's request threads and workers.
FAISS_THREADS = 1

Stored = npt.NDArray[np.float16]
Say = Callable[[str], None]


class DenseInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Which dense index a part uses and how well it finds what flat finds (``recall_at_10``, 1.0 for flat)."""

    kind: str = "flat"
    nlist: int = 0
    pq_m: int = 0
    nprobe: int = 0
    rescore: int = 0
    recall_at_10: float = 1.0
    recall_queries: int = 0
    train_rows: int = 0


def kind_for(passages: int, wanted: str, threshold: int) -> str:
    """The index kind for a part of ``passages`` rows: flat below MIN_ROWS or (``auto``) below ``threshold``."""
    if wanted not in KINDS:
        raise ConfigError(f"dense index kind {wanted!r} is unknown; use one of {', '.join(KINDS)}")
    if passages < MIN_ROWS:
        return "flat"
    if wanted != "auto":
        return wanted
    return "flat" if passages < threshold else "ivfpq"


def is_compressed(dense: faiss.Index) -> bool:
    """True for an inverted-file index (IVF-PQ), False for flat."""
    return isinstance(dense, faiss.IndexIVF)


def shape_for(rows: int, dimension: int) -> tuple[int, int]:
    """The number of inverted lists (about the square root of the rows, a power of two) and PQ sub-vectors."""
    nlist = 1 << max(4, min(14, int(np.log2(max(rows, 1)) / 2 + 0.5)))
    pq_m = next(m for m in (48, 32, 24, 16, 12, 8, 6, 4, 2, 1) if dimension % m == 0 and dimension // m <= 16)
    return nlist, pq_m


def train(vectors: npt.NDArray[np.floating], say: Say, template: faiss.Index | None = None) -> faiss.IndexIVFPQ:
    """An IVF-PQ index over the vectors: trained on a random sample, or reusing ``template``'s training."""
    rows, dimension = vectors.shape
    trained: Any = template
    if trained is not None and is_compressed(trained) and trained.nlist == shape_for(rows, dimension)[0]:
        dense = _trained_like(trained)
    else:
        nlist, pq_m = shape_for(rows, dimension)
        sample = np.sort(np.random.default_rng(SEED).permutation(rows)[: nlist * TRAIN_PER_LIST])
        say(f"training IVF{nlist},PQ{pq_m} on {len(sample)} of {rows} vectors")
        quantizer = faiss.IndexFlatIP(dimension)
        dense = faiss.IndexIVFPQ(quantizer, dimension, nlist, pq_m, 8, faiss.METRIC_INNER_PRODUCT)
        dense.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    for lo in range(0, rows, 65536):
        dense.add(np.ascontiguousarray(vectors[lo : lo + 65536], dtype=np.float32))
    return dense


def _trained_like(template: Any) -> faiss.IndexIVFPQ:
    """An empty IVF-PQ index with ``template``'s centroids and codebooks (its lists may be memory-mapped)."""
    quantizer = faiss.IndexFlatIP(template.d)
    quantizer.add(template.quantizer.reconstruct_n(0, template.nlist))
    dense = faiss.IndexIVFPQ(quantizer, template.d, template.nlist, template.pq.M, 8, faiss.METRIC_INNER_PRODUCT)
    faiss.copy_array_to_vector(faiss.vector_to_array(template.pq.centroids), dense.pq.centroids)
    dense.is_trained = True
    dense.precompute_table()
    return dense


def search(
    dense: Any,
    stored: Stored | None,
    query: npt.NDArray[np.float32],
    k: int,
    *,
    selector: faiss.IDSelector | None = None,
    nprobe: int = 0,
    rescore: int = RESCORE,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Scores and rows of the ``k`` best rows for each query (rows -1 past the end), best first.

    Flat: exact. IVF-PQ: ``nprobe`` lists on FAISS_THREADS threads, then the ``rescore * min(k, RESCORE_ROWS)``
    best by code (at least ``k``) re-scored from ``stored``.
    """
    if not is_compressed(dense):
        params = None if selector is None else faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        return dense.search(query, k, params=params)  # type: ignore[no-any-return]
    probe = nprobe or dense.nprobe
    params = faiss.SearchParametersIVF(nprobe=probe)  # type: ignore[call-arg]
    if selector is not None:
        params.sel = selector
    if stored is None or rescore <= 1:
        with faiss_threads():
            return dense.search(query, k, params=params)  # type: ignore[no-any-return]
    pool = max(k, rescore * min(k, RESCORE_ROWS))
    with faiss_threads():
        _, found = dense.search(query, min(dense.ntotal, pool), params=params)
    scores = np.full((len(query), k), -np.inf, dtype=np.float32)
    rows = np.full((len(query), k), -1, dtype=np.int64)
    for i, candidates in enumerate(found):
        cand = np.unique(candidates[candidates >= 0])
        if not len(cand):
            continue
        exact = np.asarray(gather(stored, cand), dtype=np.float32) @ query[i]
        best = np.argsort(-exact, kind="stable")[:k]
        scores[i, : len(best)], rows[i, : len(best)] = exact[best], cand[best]
    return scores, rows


def probe_floor(nlist: int) -> int:
    """The fewest lists a search probes: about the square root of ``nlist`` (16 of 256, 32 of 1,024), at least 4."""
    return max(NPROBES[0], math.isqrt(nlist))


def measure_recall(dense: Any, stored: Stored, vectors: npt.NDArray[np.floating], say: Say) -> tuple[int, float, int]:
    """The smallest nprobe reaching RECALL_TARGET (or the best tried), its recall@10 against flat, and the queries.

    Queries are stored rows outside the training sample, each left out of both answers (it would find itself).
    """
    rows = len(vectors)
    rng = np.random.default_rng(SEED + 1)
    queries = np.sort(rng.choice(rows, size=min(RECALL_QUERIES, rows), replace=False))
    q = np.ascontiguousarray(vectors[queries], dtype=np.float32)
    truth = _exact_top(vectors, q, RECALL_K + 1)
    floor = probe_floor(dense.nlist)
    best = (min(dense.nlist, floor), 0.0)
    for nprobe in (p for p in NPROBES if floor <= p <= dense.nlist):
        _, found = search(dense, stored, q, RECALL_K + 1, nprobe=nprobe)
        hits = [
            len(set(t[t != r][:RECALL_K].tolist()) & set(f[f != r][:RECALL_K].tolist()))
            for r, t, f in zip(queries, truth, found, strict=True)
        ]
        recall = sum(hits) / (RECALL_K * len(queries))
        say(f"nprobe {nprobe}: recall@10 {recall:.4f} against flat over {len(queries)} held-out queries")
        best = max(best, (nprobe, recall), key=lambda pr: pr[1])
        if recall >= RECALL_TARGET:
            return nprobe, recall, len(queries)
    return best[0], best[1], len(queries)


def _exact_top(vectors: npt.NDArray[np.floating], queries: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.int64]:
    """Rows of the exact ``k`` best by inner product, computed in blocks."""
    scores, rows = [], []
    for lo in range(0, len(vectors), 262144):
        block = np.asarray(vectors[lo : lo + 262144], dtype=np.float32) @ queries.T
        part = np.argpartition(-block, min(k, len(block) - 1), axis=0)[:k].T if len(block) > k else None
        top = np.argsort(-block, axis=0)[:k].T if part is None else part
        rows.append(top + lo)
        scores.append(np.take_along_axis(block.T, top, axis=1))
    all_scores, all_rows = np.hstack(scores), np.hstack(rows)
    order = np.argsort(-all_scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(all_rows, order, axis=1)


def compress(
    vectors: npt.NDArray[np.floating], say: Say, template: faiss.Index | None = None
) -> tuple[faiss.Index, Stored, DenseInfo]:
    """An IVF-PQ index of the vectors, their float16 copies, and its recall against flat (FAISS_THREADS)."""
    stored = np.asarray(vectors, dtype=np.float16)
    with faiss_threads():
        dense = train(vectors, say, template)
        nprobe, recall, queries = measure_recall(dense, stored, vectors, say)
    dense.nprobe = nprobe
    info = DenseInfo(
        kind="ivfpq",
        nlist=dense.nlist,
        pq_m=dense.pq.M,
        nprobe=nprobe,
        rescore=RESCORE,
        recall_at_10=round(recall, 4),
        recall_queries=queries,
        train_rows=min(len(vectors), dense.nlist * TRAIN_PER_LIST),
    )
    return dense, stored, info


@contextmanager
def faiss_threads(threads: int = FAISS_THREADS) -> Iterator[None]:
    """FAISS's OpenMP threads set to ``threads`` in the calling thread for the block, then set back.

    OpenMP keeps the thread count per calling thread (a request thread does not see what the main thread set), so
    the count is set where the work runs, around it: nothing else in the process changes, whichever thread it is.
    """
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def save_stored(path: Path, stored: Stored) -> None:
    """Write the float16 vectors as .npy (in blocks)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=stored.shape)
    for lo in range(0, len(stored), 262144):
        out[lo : lo + 262144] = stored[lo : lo + 262144]
    out.flush()
    del out


def load_stored(path: Path) -> Stored:
    """The float16 vectors, memory-mapped read-only."""
    return randomly(np.load(path, mmap_mode="r", allow_pickle=False))  # type: ignore[no-any-return]
