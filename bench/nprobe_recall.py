"""Recall@10 of a built IVF-PQ index against exact search, per nprobe, for three query sets (measurement only).

(a) 200 held-out rows of the index (as dense_index.measure_recall picks them, each row left out of both answers),
(b) 300 sentence vectors of the index's sentence table (fixed seed), as is and with the sentence's own passage(s)
    left out of both answers,
(c) 300 real SQuAD questions (qa.jsonl 0..299) embedded by the project's encoder, with the median time of one
    dense_index.search at k = settings.candidates (100) in the same loop, and recall@10 of that search's first 10.

Exact = inner product over the stored float16 vectors cast to float32. The figures behind the nprobe floor
(``dense_index.probe_floor``, bench/README.md "The HTTP side, the prompt, keyword rows, fewer lists"). Usage, over
an index built by ``bench/million.py --stage build --count N --index DIR``:
    NQ=1000 python bench/nprobe_recall.py DIR
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.base.settings import Settings  # noqa: E402
from qa.store import dense_index, mapping  # noqa: E402
from qa.store.encoders import open_encoder  # noqa: E402

SQUAD = next(
    (
        p / "shared" / "bench" / "squad2" / "qa.jsonl"
        for p in (ROOT.parent, ROOT.parent.parent)
        if (p / "shared").is_dir()
    ),
    ROOT.parent / "shared" / "bench" / "squad2" / "qa.jsonl",
)
NPROBES = (4, 8, 16, 32, 64, 128)
SENT_SEED = 2026
N_SENT = 300
N_Q = int(os.environ.get("NQ", "300"))
EXACT_K = 24


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Rows of the exact k best by inner product (float16 rows cast to float32), blocks of 65,536."""
    best_s = np.full((len(queries), 0), -np.inf, np.float32)
    best_r = np.zeros((len(queries), 0), np.int64)
    for lo in range(0, len(vectors), 65536):
        block = np.asarray(vectors[lo : lo + 65536], dtype=np.float32) @ queries.T  # rows x queries
        top = np.argpartition(-block, k, axis=0)[:k].T
        best_s = np.hstack([best_s, np.take_along_axis(block.T, top, axis=1)])
        best_r = np.hstack([best_r, top + lo])
        keep = np.argsort(-best_s, axis=1, kind="stable")[:, :k]
        best_s, best_r = np.take_along_axis(best_s, keep, axis=1), np.take_along_axis(best_r, keep, axis=1)
    return best_r


def per_query(truth: np.ndarray, found: np.ndarray, excluded: list[set[int]] | None = None) -> np.ndarray:
    """Each query's share of the exact top 10 found in the searched top 10 (both after dropping the excluded rows)."""
    hits = []
    for i, (t, f) in enumerate(zip(truth, found, strict=True)):
        ex = excluded[i] if excluded else set()
        tt = [r for r in t.tolist() if r not in ex][:10]
        ff = [r for r in f.tolist() if r not in ex and r >= 0][:10]
        assert len(tt) == 10, (i, len(tt))
        hits.append(len(set(tt) & set(ff)) / 10)
    return np.asarray(hits)


def recall(truth: np.ndarray, found: np.ndarray, excluded: list[set[int]] | None = None) -> float:
    """Mean of per_query."""
    return float(per_query(truth, found, excluded).mean())


def main() -> None:
    index_dir = Path(sys.argv[1])
    print(f"load at start: {os.getloadavg()}", flush=True)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    files = manifest["files"]
    dense = mapping.read_dense(index_dir / files["dense"])
    stored = dense_index.load_stored(index_dir / files["vectors"])
    vectors = np.load(index_dir / files["vectors"], mmap_mode="r")
    sent_vectors = np.load(index_dir / files["sentence_vectors"], mmap_mode="r")
    rows, nlist = len(vectors), dense.nlist
    print(
        f"{index_dir}: {rows:,} passages, nlist {nlist}, built nprobe {manifest['dense']['nprobe']} "
        f"(recall {manifest['dense']['recall_at_10']}), {len(sent_vectors):,} sentences; "
        f"RESCORE {dense_index.RESCORE} RESCORE_ROWS {dense_index.RESCORE_ROWS} "
        f"FAISS_THREADS {dense_index.FAISS_THREADS}",
        flush=True,
    )

    # (a) held-out rows, exactly as measure_recall draws them
    rng = np.random.default_rng(dense_index.SEED + 1)
    held = np.sort(rng.choice(rows, size=min(dense_index.RECALL_QUERIES, rows), replace=False))
    qa_ = np.ascontiguousarray(vectors[held], dtype=np.float32)

    # (b) sentence vectors, fixed seed; own passages = passages of the same document holding the sentence's span
    srng = np.random.default_rng(SENT_SEED)
    picked = np.sort(srng.choice(len(sent_vectors), size=N_SENT, replace=False))
    qb = np.ascontiguousarray(sent_vectors[picked], dtype=np.float32)
    sdir, pdir = index_dir / files["sentences"], index_dir / files["passages"]
    s_doc_ids = json.loads((sdir / "doc_ids.json").read_text())
    p_doc_ids = json.loads((pdir / "doc_ids.json").read_text())
    p_doc_num = {d: i for i, d in enumerate(p_doc_ids)}
    s_doc, s_start, s_end = (np.load(sdir / f"{n}.npy", mmap_mode="r") for n in ("doc", "start", "end"))
    p_doc, p_start, p_end = (np.load(pdir / f"{n}.npy") for n in ("doc", "start", "end"))
    own: list[set[int]] = []
    for r in picked.tolist():
        d = p_doc_num[s_doc_ids[int(s_doc[r])]]
        cand = np.flatnonzero(p_doc == d)
        inside = cand[(p_start[cand] <= s_start[r]) & (p_end[cand] >= s_end[r])]
        own.append(set(inside.tolist()))
    own_counts = [len(o) for o in own]
    print(
        f"(b) sentences: own passages per sentence min {min(own_counts)} max {max(own_counts)} "
        f"mean {np.mean(own_counts):.2f}; norms {np.linalg.norm(qb, axis=1).min():.3f}.."
        f"{np.linalg.norm(qb, axis=1).max():.3f}",
        flush=True,
    )

    # (c) real questions, the project's encoder over this index's settings
    env = {"QA_INDEX_DIR": str(index_dir), "QA_CORPUS_DIR": str(index_dir.parent / "empty-corpus")}
    settings = Settings.from_env(env)
    encoder = open_encoder(settings.build)
    questions = [json.loads(line)["question"] for line in SQUAD.read_text().splitlines()][:N_Q]
    qc = np.ascontiguousarray(encoder.encode(questions), dtype=np.float32)
    depth = min(settings.search.candidates, rows)
    del encoder
    print(f"(c) {len(qc)} questions encoded; candidates (k for timing) {depth}", flush=True)

    began = time.perf_counter()
    truth = exact_top(vectors, np.vstack([qa_, qb, qc]), EXACT_K)
    ta, tb, tc = truth[: len(qa_)], truth[len(qa_) : len(qa_) + len(qb)], truth[len(qa_) + len(qb) :]
    print(f"exact top {EXACT_K} for {len(truth)} queries in {time.perf_counter() - began:.1f} s", flush=True)
    ex_a = [{int(r)} for r in held]
    for name, q, t, ex in (("(a)", qa_, ta, ex_a), ("(b)", qb, tb, None), ("(c)", qc, tc, None)):
        sc = []
        for i in range(len(q)):
            keep = [r for r in t[i].tolist() if not ex or r not in ex[i]][:11]
            sc.append(np.asarray(vectors[np.asarray(keep)], dtype=np.float32) @ q[i])
        sc = np.asarray(sc)
        print(
            f"{name} exact scores: mean top1 {sc[:, 0].mean():.3f} top10 {sc[:, 9].mean():.3f} "
            f"top1-top10 {(sc[:, 0] - sc[:, 9]).mean():.3f} median gap 10th-11th {np.median(sc[:, 9] - sc[:, 10]):.4f}",
            flush=True,
        )
    max_own = max(own_counts)

    for i in range(len(qc)):  # untimed warm-up: the lists and rows the questions touch, at the widest nprobe
        dense_index.search(dense, stored, qc[i : i + 1], depth, nprobe=max(p for p in NPROBES if p <= nlist))
    print(
        f"\n{'nprobe':>6} {'lists%':>6} {'(a)rows':>8} {'(b)sent':>8} {'(b)-own':>8} {'(c)k=10':>8} "
        f"{'(c)k=100':>8} {'t_med ms':>9} {'t_p90 ms':>9} {'SE(c)':>6} {'q<0.8':>7}"
    )
    for nprobe in (p for p in NPROBES if p <= nlist):
        _, fa = dense_index.search(dense, stored, qa_, 11, nprobe=nprobe)  # as measure_recall: k = RECALL_K + 1
        _, fb = dense_index.search(dense, stored, qb, 10, nprobe=nprobe)
        _, fb2 = dense_index.search(dense, stored, qb, 10 + max_own, nprobe=nprobe)
        _, fc = dense_index.search(dense, stored, qc, 10, nprobe=nprobe)
        times, fc100 = [], []
        for i in range(len(qc)):
            q = qc[i : i + 1]
            t0 = time.perf_counter()
            _, r100 = dense_index.search(dense, stored, q, depth, nprobe=nprobe)
            times.append((time.perf_counter() - t0) * 1000)
            fc100.append(r100[0][:10])
        times.sort()
        pc = per_query(tc, np.asarray(fc100))
        print(
            f"{nprobe:>6} {100 * nprobe / nlist:>5.1f}% {recall(ta, fa, ex_a):>8.4f} {recall(tb, fb):>8.4f} "
            f"{recall(tb, fb2, own):>8.4f} {recall(tc, fc):>8.4f} {recall(tc, np.asarray(fc100)):>8.4f} "
            f"{statistics.median(times):>9.2f} {times[int(0.9 * len(times))]:>9.2f} "
            f"{pc.std(ddof=1) / np.sqrt(len(pc)):>6.4f} {int((pc < 0.8).sum()):>7}",
            flush=True,
        )
    print(f"\nload at end: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
