"""One box, a million passages (issue 12): build an index of ``--count`` passages, serve it, print its figures.

Passages: the real ones first (the eight SQuAD 2.0 articles of ``../shared/bench/squad2``, then SciFact abstracts
of ``../shared/bench/scifact``, chunked by the project's chunker, up to ``--real`` passages), embedded by the
project's model (passage and sentence vectors cached under ``bench/.cache/million/``); the rest DERIVED from them:

- vector: a random mixture of three real passage vectors (Dirichlet(1, 1, 1) weights) plus Gaussian noise of norm
  ``--noise`` (default 0.25), renormalised. Mixtures keep every derived vector distinct from the others (near copies
  of real vectors made recall meaningless: 0.249 in an earlier generator), and stay in the region the model's
  vectors occupy;
- text: "Ref zq<code>." (a token no other passage holds) followed by real sentences of the same three passages
  (two consecutive ones of the heaviest, one of each other), so BM25 and answers see real language;
  each sentence keeps its real vector (same text, same vector). Four derived passages make one derived document.

The index is built through the store's own code (``Part``, ``Postings.build``, ``snapshot.save``): the choice of
dense index, its training, the recall@10 against flat written to the manifest are the product's. It is then served
by ``qa serve --no-build`` (one worker) and asked ``--questions`` real SQuAD questions one at a time, over one
keep-alive connection (``--client``).

Prints: vector index size on disk, whole index size, build time by stage, recall@10 against flat (the manifest's,
and an independent check on real questions against exact search over the float32 vectors), ``/ask`` p50/p99,
server RSS and PSS, each next to its goal (a server of several processes, ``--env QA_WORKERS=2``, is judged on PSS:
summed RSS counts the index pages the workers share once per worker). Run the quoted figures under ``flock
/tmp/bench.lock nice -n 5``; the goals are met together with ``--env QA_LOCK_INDEX=search`` (the files every
search reads locked in memory: this VM pages out what was not read for a minute, see bench/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import gc
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving import memory_mb, rollup_mb, served, tree  # noqa: E402

from qa.base.records import Document, Passage  # noqa: E402
from qa.base.settings import Settings  # noqa: E402
from qa.store import dense_index, mapping, snapshot  # noqa: E402
from qa.store.corpus import stamped  # noqa: E402
from qa.store.encoders import open_encoder  # noqa: E402
from qa.store.index import Index  # noqa: E402
from qa.store.keyword import Postings  # noqa: E402
from qa.store.part import Part, chunker_for, flat, indexed_texts  # noqa: E402
from qa.store.sentence_table import SentencePart, split_passages  # noqa: E402

# ../shared/bench beside the checkout (a worktree sits one level deeper)
SHARED = next(
    (p for p in (ROOT.parent / "shared" / "bench", ROOT.parent.parent / "shared" / "bench") if p.is_dir()),
    ROOT.parent / "shared" / "bench",
)
CACHE = ROOT / "bench" / ".cache" / "million"
KEY = "million-bench-key-0123456789"
PER_DOC = 4  # derived passages per derived document
GOALS = {"vector_mb": 300.0, "recall": 0.95, "p50_ms": 20.0, "memory_mb": 2048.0}


def settings_for(index_dir: Path, corpus_dir: Path) -> Settings:
    """The project's settings (defaults) over one index folder."""
    env = {"QA_INDEX_DIR": str(index_dir), "QA_CORPUS_DIR": str(corpus_dir)}
    return Settings.from_env(env)


def real_documents() -> list[Document]:
    """The SQuAD articles, then the SciFact abstracts, as documents."""
    docs = []
    for line in (SHARED / "squad2" / "corpus" / "squad2.jsonl").read_text().splitlines():
        row = json.loads(line)
        docs.append(Document(id=row["id"], title=row["title"], text=row["text"]))
    for line in (SHARED / "scifact" / "corpus.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["text"].strip():
            docs.append(Document(id=f"scifact-{row['_id']}", title=row["title"] or row["_id"], text=row["text"]))
    return [stamped(d) for d in docs]


@dataclasses.dataclass
class Real:
    """The real passages, their sentences and the model's vectors of both."""

    docs: dict[str, Document]
    passages: list[Passage]
    vectors: np.ndarray
    spans: list[Passage]
    sentence_vectors: np.ndarray
    sentences_of: list[list[int]]  # rows of ``spans`` inside each passage, in order


def real(budget: int, settings: Settings, encoder: Any, say: Any) -> Real:
    """Up to ``budget`` real passages, embedded once and cached (keyed by the model, the chunking and the budget)."""
    chunker = chunker_for(settings.build, encoder)
    docs, passages = {}, []
    for doc in real_documents():
        if len(passages) >= budget:
            break
        docs[doc.id] = doc
        passages += chunker.chunk(doc)
    passages = passages[:budget]
    docs = {d: docs[d] for d in dict.fromkeys(p.doc_id for p in passages)}
    spans = split_passages(passages, docs)
    b = settings.build
    key = hashlib.sha256(f"{encoder.fingerprint}|{b.chunk_tokens}|{b.chunk_overlap}|{len(passages)}".encode())
    cached = CACHE / f"real-{key.hexdigest()[:16]}.npz"
    if cached.exists():
        with np.load(cached) as z:
            vectors, sentence_vectors = z["passages"], z["sentences"]
        say(f"real vectors from {cached.name}: {len(passages)} passages, {len(spans)} sentences")
    else:
        say(f"embedding {len(passages)} real passages and {len(spans)} sentences (cached afterwards)")
        inputs = indexed_texts(passages, docs, b.embed_title)
        vectors = encoder.encode(inputs, batch_size=b.batch_size)
        sentence_vectors = encoder.encode([s.text for s in spans], batch_size=b.batch_size)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(cached, passages=vectors, sentences=sentence_vectors)
    by_doc: dict[str, list[tuple[int, int, int]]] = {}
    for row, s in enumerate(spans):
        by_doc.setdefault(s.doc_id, []).append((s.start, s.end, row))
    sentences_of = [
        [r for start, end, r in by_doc.get(p.doc_id, []) if start >= p.start and end <= p.end] for p in passages
    ]
    return Real(
        docs, passages, np.asarray(vectors, np.float32), spans, np.asarray(sentence_vectors, np.float32), sentences_of
    )


def code(n: int) -> str:
    """A short base-36 code for a derived passage."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def derive(
    base: Real, count: int, noise: float, vectors_path: Path, seed: int
) -> tuple[list[Document], list[Passage], list[Passage], np.ndarray, np.ndarray]:
    """``count`` derived passages (in documents of PER_DOC), their sentences, and both vectors (float32 memmap).

    Returns documents, passages, sentence spans, rows of the real sentence behind each sentence, source rows.
    """
    rng = np.random.default_rng(seed)
    dim = base.vectors.shape[1]
    usable = np.asarray([len(s) > 0 for s in base.sentences_of])
    pool = np.flatnonzero(usable)
    sources = pool[rng.integers(0, len(pool), size=(count, 3))]
    weights = rng.dirichlet([1.0, 1.0, 1.0], size=count).astype(np.float32)
    order = np.argsort(-weights, axis=1)
    sources = np.take_along_axis(sources, order, axis=1)
    weights = np.take_along_axis(weights, order, axis=1)
    out = np.lib.format.open_memmap(vectors_path, mode="w+", dtype=np.float32, shape=(count, dim))
    for lo in range(0, count, 65536):
        hi = min(count, lo + 65536)
        mix = np.einsum("nk,nkd->nd", weights[lo:hi], base.vectors[sources[lo:hi]])
        mix /= np.linalg.norm(mix, axis=1, keepdims=True)
        g = rng.standard_normal((hi - lo, dim)).astype(np.float32)
        mix += noise * g / np.linalg.norm(g, axis=1, keepdims=True)
        out[lo:hi] = mix / np.linalg.norm(mix, axis=1, keepdims=True)
    out.flush()
    docs, passages, spans, sentence_rows = [], [], [], []
    picks = rng.random((count, 3))
    for first in range(0, count, PER_DOC):
        doc_id = f"derived-{code(first // PER_DOC)}"
        texts, local = [], []
        offset = 0
        for j in range(first, min(count, first + PER_DOC)):
            chosen: list[int] = []
            for k, take in enumerate((2, 1, 1)):
                rows = base.sentences_of[sources[j, k]]
                at = int(picks[j, k] * len(rows))
                chosen += [r for r in rows[at : at + take] if r not in chosen]
            head = f"Ref zq{code(j)}."
            parts, starts, pos = [head], [], len(head) + 1
            for r in chosen:
                starts.append((pos, r))
                parts.append(base.spans[r].text)
                pos += len(base.spans[r].text) + 1
            text = " ".join(parts)
            texts.append(text)
            local.append((offset, text, starts))
            offset += len(text) + 2
        doc_text = "\n\n".join(texts)
        title = f"{base.docs[base.passages[sources[first, 0]].doc_id].title} (derived {code(first // PER_DOC)})"
        docs.append(Document(id=doc_id, title=title, text=doc_text, **metadata(first // PER_DOC)))
        for start, text, starts in local:
            passages.append(Passage(doc_id=doc_id, start=start, end=start + len(text), text=text))
            for pos, r in starts:
                s = base.spans[r].text
                spans.append(Passage(doc_id=doc_id, start=start + pos, end=start + pos + len(s), text=s))
                sentence_rows.append(r)
    return [stamped(d) for d in docs], passages, spans, np.asarray(sentence_rows, np.int64), sources


OUTLETS = ("Daily Ledger", "The Courier", "Harbour Times", "Valley Post", "Evening Star", "Metro Wire")


def metadata(n: int) -> dict[str, str | None]:
    """Author, outlet and date of derived document ``n``, fixed by ``n`` (no random draws, so texts stay the same).

    Dates spread over ten years (one in 50 undated), 1,500 authors, 24 outlet names (six outlets, four spellings),
    so document filters and the recency preference have something to select.
    """
    day = dt.date(2016, 1, 1) + dt.timedelta(days=n * 7919 % 3653)
    outlet = OUTLETS[n % len(OUTLETS)]
    spelling = (outlet, outlet.upper(), outlet.lower(), f"{outlet} (online)")[n // len(OUTLETS) % 4]
    return {
        "author": f"Reporter {n % 1500}",
        "source": spelling,
        "date": None if n % 50 == 7 else f"{day.isoformat()}T{n % 24:02d}:00:00Z",
    }


class Clock:
    """Progress lines with the time since the start, and named stage durations."""

    def __init__(self) -> None:
        self.start = self.mark = time.perf_counter()
        self.stages: dict[str, float] = {}

    def say(self, msg: str) -> None:
        """Print a progress line."""
        print(f"[{time.perf_counter() - self.start:7.1f}s] {msg}", flush=True)

    def stage(self, name: str) -> None:
        """Close the stage running since the last mark under ``name``."""
        now = time.perf_counter()
        self.stages[name] = now - self.mark
        self.mark = now


def build(args: argparse.Namespace) -> None:
    """Build the index of ``--count`` passages into ``--index`` (its own process, so its memory is given back)."""
    clock = Clock()
    index_dir, corpus_dir = Path(args.index), Path(args.index).parent / "empty-corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(index_dir, ignore_errors=True)
    index_dir.mkdir(parents=True)
    (index_dir / "onnx").symlink_to(model_home())
    settings = settings_for(index_dir, corpus_dir)
    encoder = open_encoder(settings.build)
    base = real(min(args.real, args.count), settings, encoder, clock.say)
    clock.stage("real passages (embedded, or read from the cache)")
    count, real_n = args.count, len(base.passages)
    vectors_path = CACHE / f"vectors-{count}.npy"
    docs, passages, spans, sentence_rows, _ = derive(base, count - real_n, args.noise, vectors_path, args.seed)
    derived_vectors = np.load(vectors_path, mmap_mode="r")
    clock.say(f"derived {len(passages)} passages in {len(docs)} documents, {len(spans)} sentences")
    all_docs = {**base.docs, **{d.id: d for d in docs}}
    all_passages = base.passages + passages
    all_spans = base.spans + spans
    del docs, passages, spans
    sentence_vectors = np.lib.format.open_memmap(
        CACHE / f"sentence-vectors-{count}.npy",
        mode="w+",
        dtype=np.float32,
        shape=(len(all_spans), base.vectors.shape[1]),
    )
    sentence_vectors[: len(base.spans)] = base.sentence_vectors
    for lo in range(0, len(sentence_rows), 262144):
        rows = sentence_rows[lo : lo + 262144]
        sentence_vectors[len(base.spans) + lo : len(base.spans) + lo + len(rows)] = base.sentence_vectors[rows]
    sentence_vectors.flush()
    clock.stage("derive vectors and text")
    postings = Postings.build(indexed_texts(all_passages, all_docs, settings.build.embed_title))
    clock.stage("keyword postings (Postings.build)")
    dense = flat(base.vectors, base.vectors.shape[1])
    for lo in range(0, len(derived_vectors), 65536):
        dense.add(np.ascontiguousarray(derived_vectors[lo : lo + 65536]))
    part = Part(all_passages, dense, postings, SentencePart(all_spans, sentence_vectors))
    del all_passages, all_spans, postings, dense
    started = time.perf_counter()
    manifest = snapshot.new_manifest(settings.build, encoder, len(all_docs), part.size, started)
    manifest = msgspec.structs.replace(manifest, living=True, corpus_dir=str(corpus_dir))
    index = Index.single(manifest, all_docs, part)
    del part, all_docs
    clock.stage("parts in memory (flat vectors, sentence table)")
    marks: list[tuple[float, str]] = []

    def say(msg: str) -> None:
        marks.append((time.perf_counter(), msg))
        clock.say(msg)

    saved = snapshot.save(index, index_dir, settings.build, progress=say)
    clock.stage("snapshot.save (dense index chosen, trained, recall measured, files written)")
    del index, saved
    gc.collect()
    result = {"stages": clock.stages, "save_marks": [(t - started, m) for t, m in marks], "real": real_n}
    (index_dir.parent / f"build-{count}.json").write_text(json.dumps(result, indent=1))


def model_home() -> Path:
    """The ONNX export of the model, shared by every index this bench builds."""
    home = CACHE / "model-home"
    (home / "onnx").mkdir(parents=True, exist_ok=True)
    return home / "onnx"


def sizes(index_dir: Path, manifest: dict[str, Any]) -> dict[str, float]:
    """Sizes on disk in MB: the dense index file, its float16 re-score vectors, every file of the index."""
    files = manifest["files"]

    def mb(name: str) -> float:
        path = index_dir / files[name] if name in files else None
        if path is None or not path.exists():
            return 0.0
        if path.is_dir():
            return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
        return path.stat().st_size / 1e6

    return {
        "dense": mb("dense"),
        "rescore": mb("vectors"),
        "sentence_vectors": mb("sentence_vectors"),
        "whole": sum(mb(n) for n in files),
    }


def independent_recall(
    index_dir: Path, manifest: dict[str, Any], queries: np.ndarray, count: int, real_vectors: np.ndarray
) -> dict[str, float]:
    """Recall@10 of the served dense index (as built, nprobe from the manifest) against exact float32 search."""
    dense = mapping.read_dense(index_dir / manifest["files"]["dense"])
    stored = (
        dense_index.load_stored(index_dir / manifest["files"]["vectors"]) if "vectors" in manifest["files"] else None
    )
    derived = np.load(CACHE / f"vectors-{count}.npy", mmap_mode="r")
    scores = [real_vectors @ queries.T]
    for lo in range(0, len(derived), 262144):
        scores.append(np.asarray(derived[lo : lo + 262144]) @ queries.T)
    exact = np.vstack(scores)  # rows x queries
    truth = np.argsort(-exact, axis=0)[:100].T
    cos = np.take_along_axis(exact.T, truth, axis=1)
    _, found = dense_index.search(dense, stored, np.ascontiguousarray(queries, np.float32), 10)
    recall = float(np.mean([len(set(t[:10]) & set(f)) / 10 for t, f in zip(truth, found, strict=True)]))
    _, pq_only = dense_index.search(dense, None, np.ascontiguousarray(queries, np.float32), 10)
    pq_recall = float(np.mean([len(set(t[:10]) & set(f)) / 10 for t, f in zip(truth, pq_only, strict=True)]))
    real_share = float(np.mean(truth[:, :10] < len(real_vectors)))
    return {
        "recall": recall,
        "recall_no_rescore": pq_recall,
        "cos1": float(cos[:, 0].mean()),
        "cos10": float(cos[:, 9].mean()),
        "cos100": float(cos[:, 99].mean()),
        "real_share_top10": real_share,
    }


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def questions(limit: int, first: int = 0) -> list[str]:
    """Real SQuAD 2.0 questions (answerable and not), in file order, from the ``first``."""
    rows = [json.loads(line) for line in (SHARED / "squad2" / "qa.jsonl").read_text().splitlines()]
    return [r["question"] for r in rows][first : first + limit]


def serve_and_measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Serve the built index (and, with ``--reference``, the same index from another checkout beside it) and ask
    real questions one at a time, each to every server, the order flipped from one question to the next (A B, B A:
    the page cache the first one warms favours neither, but makes both absolute figures optimistic: quote a solo
    run's); latency, memory, answers found, per server."""
    index_dir = Path(args.index)
    asked = questions(args.questions + args.warmup, args.first)
    roots = [ROOT, *([Path(args.reference).resolve()] if args.reference else [])]
    extra = dict(pair.split("=", 1) for pair in args.reference_env)  # the reference's own settings
    own = dict(pair.split("=", 1) for pair in args.env)  # this checkout's server's
    latencies: list[list[float]] = [[] for _ in roots]
    answered = [0 for _ in roots]
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(
                served(
                    index_dir, index_dir.parent / "empty-corpus", index_dir.parent / f"serve-{i}.log",
                    env={"QA_API_KEYS": KEY, "QA_WORKERS": "1", "PYTHONPATH": str(root), **(extra if i else own)},
                    within=900, poll=0.2,
                    cwd=root,
                )
            )
            for i, root in enumerate(roots)
        ]  # fmt: skip
        ready = [memory_mb(pid) for _, pid, _ in servers]
        time.sleep(args.settle)
        print(f"index files in the page cache at the first question: {resident(index_dir)}", flush=True)
        clients = [stack.enter_context(Asker(port, args.client)) for port, _, _ in servers]
        for i, q in enumerate(asked):
            for s in range(len(roots)) if i % 2 == 0 else reversed(range(len(roots))):
                began = time.perf_counter()
                body = clients[s].ask(q)
                took = (time.perf_counter() - began) * 1000
                if i >= args.warmup:
                    latencies[s].append(took)
                    answered[s] += bool(json.loads(body).get("answerable"))
        after = [memory_mb(pid) for _, pid, _ in servers]
        held = [rollup_mb(pid, "Anonymous", "Locked") for _, pid, _ in servers]  # own pages, locked index
        processes = [len(tree(pid)) for _, pid, _ in servers]
        inside = [logged_ms(index_dir.parent / f"serve-{i}.log", args.warmup) for i in range(len(roots))]
    return [
        {
            "root": str(root),
            "commit": _commit(root),
            "p50": pct(latencies[s], 50),
            "p99": pct(latencies[s], 99),
            "server_p50": pct(inside[s], 50) if inside[s] else float("nan"),
            "n": len(latencies[s]),
            "answerable": answered[s],
            "rss": after[s][1],
            "pss": after[s][0],
            "rss_ready": ready[s][1],
            "pss_ready": ready[s][0],
            "anonymous": held[s][0],
            "locked": held[s][1],
            "processes": processes[s],
            "ready_s": servers[s][2],
        }
        for s, root in enumerate(roots)
    ]


class Asker:
    """``POST /ask`` over one keep-alive connection: with ``http.client`` (the standard library's, a few tens of
    microseconds a request) or, as the runs before it, with ``httpx`` (~0.6-1.1 ms more a request on this box)."""

    def __init__(self, port: int, kind: str) -> None:
        self.headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        url = f"http://127.0.0.1:{port}"
        self.raw = http.client.HTTPConnection("127.0.0.1", port, timeout=120) if kind == "http" else None
        self.httpx = None if self.raw else httpx.Client(base_url=url, headers=self.headers, timeout=120)

    def ask(self, question: str) -> bytes:
        """The response body of one question (raises unless 200)."""
        body = json.dumps({"question": question, "top_k": 10}).encode()
        if self.httpx is not None:
            reply = self.httpx.post("/ask", content=body)
            reply.raise_for_status()
            return reply.content
        assert self.raw is not None
        self.raw.request("POST", "/ask", body, self.headers)
        response = self.raw.getresponse()
        data = response.read()
        if response.status != 200:
            raise SystemExit(f"/ask answered {response.status}: {data[:300]!r}")
        return data

    def __enter__(self) -> Asker:
        return self

    def __exit__(self, *exc: object) -> None:
        for client in (self.raw, self.httpx):
            if client is not None:
                client.close()


def logged_ms(log: Path, skip: int) -> list[float]:
    """The server's own ``/ask`` durations (its access log: from the request's arrival in the app to the response
    sent), after the first ``skip``."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"/ask"' in line:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if record.get("path") == "/ask" and "duration_ms" in record:
                    found.append(float(record["duration_ms"]))
    return found[skip:]


def resident(folder: Path) -> str:
    """How much of the folder's files the page cache holds (util-linux ``fincore``), e.g. '5,210 of 6,015 MB'."""
    files = [str(p) for p in folder.rglob("*") if p.is_file()]
    done = subprocess.run(["fincore", "-b", "-n", "-o", "RES,SIZE", *files], capture_output=True, text=True)
    if done.returncode:
        return "unknown (fincore failed)"
    res, size = (sum(int(line.split()[i]) for line in done.stdout.splitlines()) for i in (0, 1))
    return f"{res / 2**20:,.0f} of {size / 2**20:,.0f} MB"


def evict(folder: Path) -> int:
    """Ask the kernel to drop every file under ``folder`` from the page cache (POSIX_FADV_DONTNEED); bytes asked."""
    total = 0
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                total += os.fstat(fd).st_size
            finally:
                os.close(fd)
    return total


def _commit(root: Path) -> str:
    """The commit a checkout is at (short), or '?'."""
    done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def main() -> None:
    """Build (in a child process), check recall, serve, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="passages in the index")
    parser.add_argument("--real", type=int, default=1200, help="real passages embedded by the model (the budget)")
    parser.add_argument("--noise", type=float, default=0.25, help="norm of the noise added to derived vectors")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--questions", type=int, default=300, help="timed /ask requests (real SQuAD questions)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds to wait once the servers are ready, before the first question (lets the page-cache "
        "prefetch finish: ~25 s at 1M on this disk)",
    )
    parser.add_argument(
        "--first",
        type=int,
        default=0,
        help="timed questions start here: questions no earlier run asked find the "
        "rows they need on disk, not in the page cache (the figures depend on it)",
    )
    parser.add_argument("--recall-queries", type=int, default=300)
    parser.add_argument(
        "--client",
        choices=["http", "httpx"],
        default="http",
        help="the client asking: the standard library's http.client (default) or httpx (runs before 2026-12-03)",
    )
    parser.add_argument("--index", default="", help="index folder (default bench/.cache/million/index-COUNT)")
    parser.add_argument("--skip-build", action="store_true", help="serve the index built by an earlier run")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="drop the index's files from the page cache before serving (a start on a box that has not read them)",
    )
    parser.add_argument("--reference", default="", help="another checkout to serve the same index beside this one")
    parser.add_argument(
        "--reference-env",
        action="append",
        default=[],
        metavar="QA_NAME=VALUE",
        help="a setting for the reference server only (e.g. QA_DENSE_NPROBE=64: what its build would have chosen)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="QA_NAME=VALUE",
        help="a setting for this checkout's server (e.g. QA_LOCK_INDEX=search: the files every search reads locked)",
    )
    parser.add_argument("--stage", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.index = args.index or str(CACHE / f"index-{args.count}")
    if args.stage == "build":
        build(args)
        return
    print(f"load before: {os.getloadavg()}", flush=True)
    began = time.perf_counter()
    if not args.skip_build:
        child = [sys.executable, __file__, "--stage", "build", *sys.argv[1:]]
        subprocess.run(child, check=True)
    build_s = time.perf_counter() - began
    index_dir = Path(args.index)
    built = json.loads((index_dir.parent / f"build-{args.count}.json").read_text())
    manifest = json.loads((index_dir / "manifest.json").read_text())
    settings = settings_for(index_dir, index_dir.parent / "empty-corpus")
    encoder = open_encoder(settings.build)
    queries = encoder.encode(questions(args.recall_queries))
    base = real(min(args.real, args.count), settings, encoder, lambda _m: None)
    real_vectors = base.vectors
    check = independent_recall(index_dir, manifest, queries, args.count, real_vectors)
    del encoder, base
    if args.cold:
        print(f"dropped {evict(index_dir) / 2**20:,.0f} MB of index files from the page cache", flush=True)
    measured = serve_and_measure(args)
    report(args, built, manifest, sizes(index_dir, manifest), check, measured[0], build_s)
    for other in measured[1:]:
        mine = measured[0]
        reference_env = f" (reference with {' '.join(args.reference_env)})" if args.reference_env else ""
        print(
            f"\nreference served beside it ({other['root']} at {other['commit']}; this checkout at {mine['commit']}), "
            f"same questions, order flipped each question{reference_env}:"
        )
        for key in ("p50", "p99"):
            print(f"  /ask {key}: {other[key]:.1f} ms (reference) vs {mine[key]:.1f} ms, {other[key] / mine[key]:.2f}x")
        print(
            f"  server RSS / PSS after: {other['rss']:.0f} / {other['pss']:.0f} MB (reference) vs "
            f"{mine['rss']:.0f} / {mine['pss']:.0f} MB; answered {other['answerable']} vs {mine['answerable']}"
        )
    print(f"load after: {os.getloadavg()}")


def report(
    args: argparse.Namespace,
    built: dict[str, Any],
    manifest: dict[str, Any],
    size: dict[str, float],
    check: dict[str, float],
    served: dict[str, Any],
    build_s: float,
) -> None:
    """Print the figures next to the goals."""
    dense = manifest.get("dense", {})
    # one process: the larger (RSS); several: PSS, each shared page once (summed RSS counts it once per worker)
    several = served.get("processes", 1) > 1
    memory = served["pss"] if several else max(served["rss"], served["pss"])
    print(
        f"\n== {manifest['passages']:,} passages ({built['real']:,} real, the rest derived), "
        f"{manifest['documents']:,} documents; load {os.getloadavg()}"
    )
    print(
        f"dense index: {dense.get('kind', 'flat')} nlist {dense.get('nlist')} PQ{dense.get('pq_m')} "
        f"nprobe {dense.get('nprobe')} rescore {dense.get('rescore')}x"
    )
    print("build stages:")
    for name, seconds in built["stages"].items():
        print(f"  {seconds:8.1f} s  {name}")
    for t, msg in built["save_marks"]:
        print(f"      at {t:7.1f} s of save: {msg}")
    if not args.skip_build:
        print(f"  {build_s:8.1f} s  whole build process")
    rows = [
        (
            "vector index on disk (dense-*.faiss)",
            f"{size['dense']:.1f} MB",
            f"<= {GOALS['vector_mb']:.0f} MB",
            size["dense"] <= GOALS["vector_mb"],
        ),
        ("  + float16 re-score vectors (memory-mapped)", f"{size['rescore']:.1f} MB", "", None),
        ("  sentence vectors (memory-mapped)", f"{size['sentence_vectors']:.1f} MB", "", None),
        ("whole index on disk", f"{size['whole']:.1f} MB", "", None),
        (
            f"recall@10 vs flat, manifest ({dense.get('recall_queries')} held-out rows)",
            f"{dense.get('recall_at_10', 1.0):.4f}",
            f">= {GOALS['recall']}",
            dense.get("recall_at_10", 1.0) >= 0.95,
        ),
        (
            f"recall@10 vs exact float32, {args.recall_queries} real questions",
            f"{check['recall']:.4f}",
            f">= {GOALS['recall']}",
            check["recall"] >= GOALS["recall"],
        ),
        ("  same, IVF-PQ codes only (no re-score)", f"{check['recall_no_rescore']:.4f}", "", None),
        (
            f"/ask p50 ({served['n']} real questions from #{args.first}, one at a time, top_k 10)",
            f"{served['p50']:.1f} ms",
            f"<= {GOALS['p50_ms']:.0f} ms",
            served["p50"] <= GOALS["p50_ms"],
        ),
        ("/ask p99", f"{served['p99']:.1f} ms", "", None),
        (f"  client: {args.client}; the server's own p50 (its access log)", f"{served['server_p50']:.1f} ms", "", None),
        (
            f"server RSS / PSS after the questions (judged on {'PSS' if several else 'RSS'})",
            f"{served['rss']:.0f} / {served['pss']:.0f} MB",
            f"<= {GOALS['memory_mb']:.0f} MB",
            memory <= GOALS["memory_mb"],
        ),
        ("server RSS / PSS when ready", f"{served['rss_ready']:.0f} / {served['pss_ready']:.0f} MB", "", None),
        (
            "  of which its own (anonymous) / index files locked (QA_LOCK_INDEX)",
            f"{served['anonymous']:.0f} / {served['locked']:.0f} MB",
            "",
            None,
        ),
    ]
    if several:
        print(
            f"the server is {served['processes']} processes: summed RSS counts the pages they share (the index "
            "files) once per process, PSS once in all; the memory goal is judged on PSS"
        )
    print(f"\n{'figure':64} {'measured':>18} {'goal':>10}  met")
    for name, value, goal, met in rows:
        print(f"{name:64} {value:>18} {goal:>10}  {'' if met is None else ('yes' if met else 'NO')}")
    if args.env:
        print(f"\nthis checkout's server ran with {' '.join(args.env)}")
    print(f"\nserver ready in {served['ready_s']:.1f} s; {served['answerable']} of {served['n']} answered")
    print(
        f"neighbours of real questions (exact): mean cosine top-1 {check['cos1']:.3f}, top-10 {check['cos10']:.3f}, "
        f"top-100 {check['cos100']:.3f}; share of real passages in the top 10: {check['real_share_top10']:.3f}"
    )


if __name__ == "__main__":
    main()
