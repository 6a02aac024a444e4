"""The stages of a distributed build as batch functions, and the shards they write, merged into one part.

Each stage takes and returns a batch (column name -> array, one row per file or document), so any batch
engine can run it; ``qa.store.distributed`` runs them on Ray Data. A document's passages, sentences and
vectors are made by the same functions a normal build uses, from that document alone: vectors do not depend
on the batch (the ONNX embedder batches only texts of equal token length, with per-token int8 scales), so
the merged shards equal a normal build.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from qa.base.errors import CorpusError
from qa.base.records import Document, Passage
from qa.base.settings import BuildSettings
from qa.store.embedding import Encoder, Vectors
from qa.store.encoders import open_encoder
from qa.store.keyword import Postings
from qa.store.part import Part, chunker_for, flat, indexed_texts
from qa.store.sentence_table import SentencePart, split_passages
from qa.store.spans import Spans

Batch = Mapping[str, Any]
Columns = dict[str, np.ndarray]
SHARD_FILES = {
    "dense": "dense.faiss",
    "passages": "passages.jsonl",
    "keyword": "keyword",
    "sentences": "sentences.jsonl",
    "sentence_vectors": "sentence-vectors.npy",
}
_json = msgspec.json.Encoder()


def column(values: Sequence[object]) -> np.ndarray:
    """A batch column of arbitrary values (bytes, strings) that numpy must not reshape."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


@functools.lru_cache(maxsize=2)
def stage_encoder(settings: BuildSettings) -> Encoder:
    """The model of one worker process, on one thread (a worker per core), opened once per process."""
    return open_encoder(settings, threads=1)


def read_files(batch: Batch) -> Columns:
    """Read: the usable documents of each file (``path``), cleaned as a normal build reads them."""
    from qa.store.corpus import usable_documents

    docs, skipped, errors = [], [], []
    for path in batch["path"]:
        try:
            found, passed_over = usable_documents(Path(str(path)), Path(str(path)).read_bytes())
        except (CorpusError, OSError) as exc:
            found, passed_over = [], []
            errors.append(f"{path}: {exc}" if isinstance(exc, OSError) else str(exc))
        else:
            errors.append("")
        docs.append(_json.encode(found))
        skipped.append(_json.encode(passed_over))
    return {
        "file": np.asarray(batch["file"]),
        "docs": column(docs),
        "skipped": column(skipped),
        "error": column(errors),
    }


def file_documents(rows: Sequence[Mapping[str, Any]]) -> tuple[list[Document], list[str]]:
    """The documents and skipped sources of :func:`read_files` rows, in file order; a file's error is raised."""
    docs: list[Document] = []
    skipped: list[str] = []
    for row in sorted(rows, key=lambda r: int(r["file"])):
        if row["error"]:
            raise CorpusError(str(row["error"]))
        docs += msgspec.json.decode(row["docs"], type=list[Document])
        skipped += msgspec.json.decode(row["skipped"], type=list[str])
    return docs, skipped


def chunk(batch: Batch, settings: BuildSettings) -> Columns:
    """Chunk: each document's passages, what is embedded for them, and their sentences."""
    chunker = chunker_for(settings, stage_encoder(settings))
    passages, inputs, sentences = [], [], []
    for raw in batch["doc"]:
        doc = msgspec.json.decode(raw, type=Document)
        found = chunker.chunk(doc)
        passages.append(_json.encode(found))
        inputs.append(_json.encode(indexed_texts(found, {doc.id: doc}, settings.embed_title)))
        sentences.append(_json.encode(split_passages(found, {doc.id: doc})))
    return {
        "seq": np.asarray(batch["seq"]),
        "passages": column(passages),
        "inputs": column(inputs),
        "sentences": column(sentences),
    }


class Embed:
    """Embed: the vectors of each document's passages and sentences, by a model held for the worker's life.

    A subclass names the build's ``settings`` (so a batch engine starts it without arguments).
    """

    settings: BuildSettings

    def __init__(self) -> None:
        self.encoder = stage_encoder(self.settings)

    def __call__(self, batch: Batch) -> Columns:
        """The batch with ``vectors`` and ``sentence_vectors`` (float32 bytes, one row per text) added."""
        texts = [msgspec.json.decode(raw, type=list[str]) for raw in batch["inputs"]]
        spans = [msgspec.json.decode(raw, type=list[Passage]) for raw in batch["sentences"]]
        every = [t for doc in texts for t in doc] + [s.text for doc in spans for s in doc]
        vectors = self.encoder.encode(every, batch_size=self.settings.batch_size)
        sizes = [len(doc) for doc in texts] + [len(doc) for doc in spans]
        pieces = np.split(vectors, np.cumsum(sizes)[:-1]) if sizes else []
        out = dict(batch)
        out["vectors"] = column([p.astype(np.float32).tobytes() for p in pieces[: len(texts)]])
        out["sentence_vectors"] = column([p.astype(np.float32).tobytes() for p in pieces[len(texts) :]])
        return out


def write_shard(batch: Batch, staging: str, dimension: int) -> Columns:
    """Write: the batch's documents as one shard (a part saved as the index saves its parts) under ``staging``."""
    if not len(batch["seq"]):
        return {"first": np.zeros(0, np.int64), "count": np.zeros(0, np.int64), "passages": np.zeros(0, np.int64),
                "path": column([])}  # fmt: skip
    order = np.argsort(np.asarray(batch["seq"]), kind="stable")
    seqs = [int(batch["seq"][i]) for i in order]
    passages = [p for i in order for p in msgspec.json.decode(batch["passages"][i], type=list[Passage])]
    inputs = [t for i in order for t in msgspec.json.decode(batch["inputs"][i], type=list[str])]
    spans = [s for i in order for s in msgspec.json.decode(batch["sentences"][i], type=list[Passage])]
    part = Part(
        Spans.of(passages),
        flat(_vectors([batch["vectors"][i] for i in order], dimension), dimension),
        Postings.build(inputs),
        SentencePart(Spans.of(spans), _vectors([batch["sentence_vectors"][i] for i in order], dimension)),
    )
    folder = Path(staging) / f"shard-{seqs[0]:010d}"
    folder.mkdir(parents=True, exist_ok=True)
    part.save(folder, dict(SHARD_FILES))
    return {
        "first": np.asarray([seqs[0]]),
        "count": np.asarray([len(seqs)]),
        "passages": np.asarray([part.size]),
        "path": column([str(folder)]),
    }


def _vectors(blobs: Sequence[bytes], dimension: int) -> Vectors:
    """Rows of float32 vectors from their bytes, one blob per document."""
    joined = b"".join(bytes(b) for b in blobs)
    return np.frombuffer(joined, dtype=np.float32).reshape(-1, dimension).copy()


def merge(rows: Sequence[Mapping[str, Any]], documents: int, dimension: int) -> Part:
    """The shards :func:`write_shard` wrote, joined in document order; every document in exactly one shard."""
    shards = sorted(rows, key=lambda r: int(r["first"]))
    expected = 0
    for row in shards:
        if int(row["first"]) != expected:
            raise CorpusError(f"the shards skip or repeat documents (shard at {row['first']}, expected {expected})")
        expected += int(row["count"])
    if expected != documents:
        raise CorpusError(f"the shards hold {expected} of {documents} documents")
    parts = [Part.load(Path(str(row["path"])), dict(SHARD_FILES)) for row in shards]
    return Part.join(parts, dimension)
