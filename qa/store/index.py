"""The on-disk index: manifest.json, a FAISS file, a BM25 folder, passages and documents as JSON Lines."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import faiss
import msgspec
import numpy as np

from qa.base.errors import CorpusError, IndexMismatch
from qa.base.files import TMP_PREFIX, exclusive, remove, write_atomic, write_bytes_atomic
from qa.base.records import Document, Passage
from qa.base.settings import BuildSettings
from qa.store.chunking import Chunker, token_counter
from qa.store.corpus import Corpus, read_corpus
from qa.store.embedding import Encoder, Vectors, embed_all
from qa.store.keyword import KeywordIndex
from qa.store.manifest import FORMAT_VERSION, MANIFEST, REBUILD, Manifest, mismatches, read_manifest
from qa.store.sentence_table import SentenceTable

GENERATED_PREFIXES = ("dense-", "passages-", "documents-", "keyword-", "sentences-", "sentence-vectors-", TMP_PREFIX)
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Index:
    """Everything search needs, loaded in memory: row i of ``vectors`` and ``keyword`` is ``passages[i]``."""

    manifest: Manifest
    documents: dict[str, Document]
    passages: list[Passage]
    dense: faiss.Index
    keyword: KeywordIndex
    sentences: SentenceTable

    def title(self, doc_id: str) -> str:
        """The title of a document in the index."""
        return self.documents[doc_id].title


def embed_input(title: str, text: str, with_title: bool) -> str:
    """The text indexed for a passage: its article's title, then the passage (the first passage always has it)."""
    return f"{title}\n{text}" if with_title else text


def build(
    settings: BuildSettings, encoder: Encoder, *, progress: Progress | None = None, corpus: Corpus | None = None
) -> Index:
    """Chunk, embed and index the corpus (read now unless given) and write the index atomically to ``index_dir``."""
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    corpus = corpus or read_corpus(settings.corpus_dir)
    for skipped in corpus.skipped:
        say(f"warning: skipped {skipped}")
    index = build_from_documents(corpus.documents, settings, encoder, progress=say)
    manifest = msgspec.structs.replace(
        index.manifest,
        corpus_dir=str(settings.corpus_dir),
        corpus_sha256=corpus.sha256,
        build_seconds=round(time.perf_counter() - started, 3),
    )
    manifest = save(dataclasses.replace(index, manifest=manifest), settings.index_dir)
    index = dataclasses.replace(index, manifest=manifest)
    say(
        f"wrote {settings.index_dir}: {manifest.documents} documents, {manifest.passages} passages "
        f"in {manifest.build_seconds:.1f}s"
    )
    return index


def build_from_documents(
    docs: list[Document],
    settings: BuildSettings,
    encoder: Encoder,
    *,
    progress: Progress | None = None,
    with_sentences: bool = True,
) -> Index:
    """An in-memory index of ``docs`` (nothing written); ``with_sentences=False`` skips answer extraction data."""
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    by_id = {d.id: d for d in docs}
    chunker = Chunker(
        count=token_counter(settings.encoding),
        max_tokens=settings.chunk_tokens,
        overlap=settings.chunk_overlap,
        fits=lambda doc, text: encoder.fits(embed_input(doc.title, text, True)),
    )
    passages = [p for d in docs for p in chunker.chunk(d)]
    if not passages:
        raise CorpusError(f"the {len(docs)} documents hold no article text to index; add articles to the corpus")
    say(f"chunked {len(docs)} documents into {len(passages)} passages; embedding")
    inputs = [
        embed_input(by_id[p.doc_id].title, p.text, settings.embed_title or prev is None or p.doc_id != prev.doc_id)
        for prev, p in zip([None, *passages], passages, strict=False)
    ]
    vectors = embed_all(encoder, inputs, settings.batch_size, "passages", say)
    dense = faiss.IndexFlatIP(encoder.dimension)
    if len(vectors):
        dense.add(vectors)
    keyword = KeywordIndex.build(inputs, k1=settings.bm25_k1, b=settings.bm25_b)
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        generation=_generation(),
        built_at=dt.datetime.now(dt.UTC).isoformat(),
        model=encoder.name,
        model_sha256=encoder.fingerprint,
        dimension=encoder.dimension,
        encoding=settings.encoding,
        chunk_tokens=settings.chunk_tokens,
        chunk_overlap=settings.chunk_overlap,
        embed_title=settings.embed_title,
        bm25_k1=settings.bm25_k1,
        bm25_b=settings.bm25_b,
        corpus_dir="",
        corpus_sha256="",
        documents=len(docs),
        passages=len(passages),
        files={},
        build_seconds=round(time.perf_counter() - started, 3),
    )
    if with_sentences:
        say(f"embedding the sentences of {len(passages)} passages (answers and the best-sentence signal)")
        sentences = SentenceTable.build(passages, by_id, encoder, settings.batch_size, say)
    else:
        sentences = SentenceTable([], np.zeros((0, encoder.dimension), dtype=np.float32))
    return Index(manifest, by_id, passages, dense, keyword, sentences)


def _generation() -> str:
    """A sortable unique name for one build's files."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def save(index: Index, folder: Path) -> Manifest:
    """Write the index's files under new names, then switch ``manifest.json`` to them in one rename."""
    gen = index.manifest.generation
    files = {
        "dense": f"dense-{gen}.faiss",
        "passages": f"passages-{gen}.jsonl",
        "documents": f"documents-{gen}.jsonl",
        "keyword": f"keyword-{gen}",
        "sentences": f"sentences-{gen}.jsonl",
        "sentence_vectors": f"sentence-vectors-{gen}.npy",
    }
    manifest = msgspec.structs.replace(index.manifest, files=files)
    with exclusive(folder):
        try:
            previous = read_manifest(folder) if (folder / MANIFEST).exists() else None
        except IndexMismatch:
            previous = None  # an unreadable manifest must not block the rebuild it asks for
        write_atomic(folder / files["dense"], lambda tmp: faiss.write_index(index.dense, str(tmp)))
        write_bytes_atomic(folder / files["passages"], _jsonl(index.passages))
        write_bytes_atomic(folder / files["documents"], _jsonl(list(index.documents.values())))
        write_atomic(folder / files["keyword"], lambda tmp: index.keyword.save(tmp))
        write_bytes_atomic(folder / files["sentences"], _jsonl(index.sentences.spans))
        write_atomic(folder / files["sentence_vectors"], index.sentences.save_vectors)
        write_bytes_atomic(folder / MANIFEST, msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n")
        _collect_garbage(folder, keep={*files.values(), *(previous.files.values() if previous else ())})
    return manifest


def _jsonl(rows: list[Passage] | list[Document]) -> bytes:
    """One JSON object per line."""
    encoder = msgspec.json.Encoder()
    return b"".join(encoder.encode(r) + b"\n" for r in rows)


def _collect_garbage(folder: Path, keep: set[str]) -> None:
    """Delete files of older builds and leftovers of interrupted ones, keeping the current and previous build."""
    for path in folder.iterdir():
        generated = path.name.startswith(GENERATED_PREFIXES)
        if generated and path.name not in keep:
            remove(path)


def load(folder: Path, settings: BuildSettings, encoder: Encoder | None = None, *, check_corpus: bool = True) -> Index:
    """Load the index in ``folder``, refusing one built with another model, settings or corpus."""
    manifest = read_manifest(folder)
    problems = mismatches(manifest, settings, encoder, check_corpus=check_corpus)
    if problems:
        raise IndexMismatch(f"index in {folder} does not match: {'; '.join(problems)}; {REBUILD}")
    try:
        dense = faiss.read_index(str(folder / manifest.files["dense"]))
        passages = msgspec.json.decode(
            b"[" + b",".join((folder / manifest.files["passages"]).read_bytes().splitlines()) + b"]", type=list[Passage]
        )
        docs = msgspec.json.decode(
            b"[" + b",".join((folder / manifest.files["documents"]).read_bytes().splitlines()) + b"]",
            type=list[Document],
        )
        keyword = KeywordIndex.load(folder / manifest.files["keyword"])
        sentences = SentenceTable.load(
            folder / manifest.files["sentences"], folder / manifest.files["sentence_vectors"]
        )
    except (OSError, RuntimeError, KeyError, ValueError, msgspec.DecodeError) as exc:
        raise IndexMismatch(f"index in {folder} is damaged ({exc}); {REBUILD}") from None
    if not dense.ntotal == len(passages) == keyword.size == manifest.passages:
        raise IndexMismatch(f"index in {folder} is inconsistent (vectors, passages and keyword rows differ); {REBUILD}")
    return Index(manifest, {d.id: d for d in docs}, passages, dense, keyword, sentences)


def dense_vectors(index: Index, rows: list[int]) -> Vectors:
    """The stored vectors of some passages."""
    if not rows:
        return np.zeros((0, index.dense.d), dtype=np.float32)
    return np.vstack([index.dense.reconstruct(int(r)) for r in rows]).astype(np.float32)
