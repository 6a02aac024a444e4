"""Index snapshots on disk: manifest.json naming one base part's files and the journal of writes made since.

Files are written under new names, then ``manifest.json`` is switched to them in one rename: a crash leaves
the previous snapshot (and its journal) serving. Files of older snapshots are collected afterwards.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import secrets
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import msgspec

from qa.base.errors import CorpusError, IndexMismatch
from qa.base.files import TMP_PREFIX, fsync_dir, fsync_tree, remove, write_bytes_atomic
from qa.base.records import Document
from qa.base.settings import BuildSettings
from qa.store import originals
from qa.store.corpus import Corpus, read_corpus
from qa.store.dense_index import kind_for
from qa.store.document_file import DocumentFile
from qa.store.duplicates import Groups
from qa.store.embedding import Encoder
from qa.store.index import Index
from qa.store.manifest import FORMAT_VERSION, MANIFEST, REBUILD, Manifest, mismatches, read_manifest
from qa.store.part import Part, locked_files
from qa.store.pinning import pin

GENERATED_PREFIXES = (
    "dense-",
    "vectors-",
    "passages-",
    "documents-",
    "keyword-",
    "sentences-",
    "sentence-vectors-",
    "journal-",
    "signatures-",
)
Progress = Callable[[str], None]


def build(
    settings: BuildSettings, encoder: Encoder, *, progress: Progress | None = None, corpus: Corpus | None = None
) -> Index:
    """Chunk, embed and index the corpus (read now unless given) and write the index atomically to ``index_dir``."""
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    corpus = corpus or read_corpus(settings.corpus_dir)
    for skipped in corpus.skipped:
        say(f"warning: skipped {skipped}")
    docs, groups = grouping(corpus.documents, settings.duplicate_threshold)
    index = build_from_documents(docs, settings, encoder, progress=say)
    return publish(index, settings, corpus.sha256, started, say, groups)


def publish(
    index: Index,
    settings: BuildSettings,
    corpus_sha256: str,
    started: float,
    say: Progress,
    groups: Groups | None = None,
) -> Index:
    """Write a fresh build of the corpus (hashed ``corpus_sha256``, begun at ``started``) as the index's snapshot;
    ``groups`` holds the originals' signatures when the build grouped the copies."""
    manifest = msgspec.structs.replace(
        index.manifest,
        corpus_dir=str(settings.corpus_dir),
        corpus_sha256=corpus_sha256,
        build_seconds=round(time.perf_counter() - started, 3),
    )
    index = dataclasses.replace(index, manifest=manifest)
    index = save(index, settings.index_dir, settings, progress=say, groups=groups)
    manifest = index.manifest
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
    if not docs:
        raise CorpusError("there are no documents to index; add articles")
    indexed = [d for d in docs if d.duplicate_of is None]
    part = Part.build(indexed, settings, encoder, progress=progress, with_sentences=with_sentences)
    return Index.single(new_manifest(settings, encoder, len(docs), part.size, started), {d.id: d for d in docs}, part)


def grouping(docs: list[Document], threshold: float) -> tuple[list[Document], Groups]:
    """The documents stamped with the build time, copies of an earlier one grouped under it (not indexed), and the
    originals findable by a copy's text (their signatures are saved with the snapshot)."""
    at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    groups = Groups(threshold)
    out = []
    for doc in docs:
        original = groups.original_of(doc.text)
        if original is None:
            groups.add(doc.id, doc.text)
        out.append(msgspec.structs.replace(doc, duplicate_of=original, added_at=at, updated_at=at))
    return out, groups


def new_manifest(settings: BuildSettings, encoder: Encoder, documents: int, passages: int, started: float) -> Manifest:
    """The manifest of a fresh build (no files yet)."""
    return Manifest(
        format_version=FORMAT_VERSION,
        generation=generation_name(),
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
        documents=documents,
        passages=passages,
        files={},
        build_seconds=round(time.perf_counter() - started, 3),
    )


def generation_name() -> str:
    """A sortable unique name for one snapshot's files."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def save(
    index: Index,
    folder: Path,
    settings: BuildSettings,
    *,
    progress: Progress | None = None,
    groups: Groups | None = None,
    lock: str = "off",
) -> Index:
    """Write the index as a new snapshot (its recent part folded into the base) and switch the manifest to it.

    ``lock``: which of its files to keep locked in memory (QA_LOCK_INDEX), locked before the switch.

    The originals' signatures are written too: taken from ``groups`` where it holds them, computed otherwise.

    The dense index is the kind the settings choose for the folded part's size (an IVF-PQ base keeps its training).
    The caller holds the index folder's lock. The new snapshot starts with an empty journal.
    """
    gen = index.manifest.generation
    files = {
        "dense": f"dense-{gen}.faiss",
        "passages": f"passages-{gen}",
        "documents": f"documents-{gen}.jsonl",
        "keyword": f"keyword-{gen}",
        "sentences": f"sentences-{gen}",
        "sentence_vectors": f"sentence-vectors-{gen}.npy",
        originals.FILE: f"signatures-{gen}.npy",
    }
    base = index.base.without(index.base_dead) if index.base_dead else index.base
    part = Part.join([base, index.recent], base.dense.d) if index.recent.size else base
    kind = kind_for(part.size, settings.dense_index, settings.dense_threshold)
    part, dense = part.with_dense(kind, progress or (lambda _msg: None), index.base.dense)
    if kind != "flat":
        files["vectors"] = f"vectors-{gen}.npy"
    manifest = msgspec.structs.replace(
        index.manifest,
        format_version=FORMAT_VERSION,  # every file is written afresh by this version (a fold of an older index too)
        dense=index.manifest.dense if dense is None else dense,
        files=files,
        journal=f"journal-{gen}.log",
        documents=len(index.documents),
        passages=part.size,
        revision=index.revision,
    )
    folder.mkdir(parents=True, exist_ok=True)
    try:
        previous = read_manifest(folder) if (folder / MANIFEST).exists() else None
    except IndexMismatch:
        previous = None  # an unreadable manifest must not block the rebuild it asks for
    part.save(folder, files)
    encoder = msgspec.json.Encoder()
    docs = sorted(index.documents.values(), key=lambda d: d.id)
    (folder / files["documents"]).write_bytes(b"".join(encoder.encode(d) + b"\n" for d in docs))
    ids = [d.id for d in docs if d.duplicate_of is None]
    originals.write(folder / files[originals.FILE], originals.for_save(index.documents, ids, groups))
    for name in files.values():
        fsync_tree(folder / name) if (folder / name).is_dir() else _fsync(folder / name)
    fsync_dir(folder)
    # locked before the switch: a refused lock leaves the old snapshot serving (a flat part is served from memory)
    locked = locked_files(folder, files if kind != "flat" else {"documents": files["documents"]}, lock)
    pinned = pin(locked) if locked else None
    try:
        write_manifest(folder, manifest)
        keep = {*files.values(), manifest.journal}
        if previous is not None:
            keep |= {*previous.files.values(), previous.journal}
        collect_garbage(folder, keep)
        if kind != "flat":  # serve the files just written, memory-mapped (the locked bytes), not the copies built
            part = Part.load(folder, files)
    except BaseException:
        if pinned is not None:
            pinned.release()
        raise
    if pinned is not None:
        weakref.finalize(part, pinned.release)
    written = DocumentFile(folder / files["documents"])  # as a reader opens it: nothing laid over an older file
    return dataclasses.replace(Index.single(manifest, written, part), revision=index.revision)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Switch ``manifest.json`` atomically."""
    write_bytes_atomic(folder / MANIFEST, msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n")


def _fsync(path: Path) -> None:
    """Flush one file."""
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def collect_garbage(folder: Path, keep: set[str]) -> None:
    """Delete files of older snapshots and leftovers of interrupted writes, keeping the named ones."""
    for path in folder.iterdir():
        generated = path.name.startswith((*GENERATED_PREFIXES, TMP_PREFIX))
        if generated and path.name not in keep:
            remove(path)


def load_snapshot(
    folder: Path, settings: BuildSettings, encoder: Encoder | None = None, *, check_corpus: bool = True
) -> Index:
    """The snapshot in ``folder`` (without its journal), refusing one built with another model, settings or corpus."""
    manifest = read_manifest(folder)
    problems = mismatches(manifest, settings, encoder, check_corpus=check_corpus)
    if problems:
        raise IndexMismatch(f"index in {folder} does not match: {'; '.join(problems)}; {REBUILD}")
    locked = locked_files(folder, manifest.files, settings.lock_index)
    pinned = None
    try:  # locked first, so that the part reads the locked bytes (one mapping of each file, not two)
        pinned = pin(locked) if locked else None
        part = Part.load(folder, manifest.files)
        docs = DocumentFile(folder / manifest.files["documents"])
        if part.size != manifest.passages:
            raise IndexMismatch(
                f"index in {folder} is inconsistent (vectors, passages and keyword rows differ); {REBUILD}"
            )
    except BaseException as exc:
        if pinned is not None:
            pinned.release()
        if isinstance(exc, (OSError, RuntimeError, KeyError, ValueError, msgspec.DecodeError)):
            raise IndexMismatch(f"index in {folder} is damaged ({exc}); {REBUILD}") from None
        raise
    if pinned is not None:  # locked for as long as the part read from the files is served
        weakref.finalize(part, pinned.release)
    return dataclasses.replace(Index.single(manifest, docs, part), revision=manifest.revision)
