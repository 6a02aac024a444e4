"""The index one request reads: a base part and a recent part, the live rows, and the documents; never changed.

A write makes a new Index (a new generation) from the old one without touching it, so a request finishes on
the generation it started with. Row numbers run through the base part, then the recent part.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import faiss
import numpy as np
import numpy.typing as npt

from qa.base.records import Document
from qa.store import dense_index
from qa.store.document_file import DocumentFile
from qa.store.embedding import Vectors
from qa.store.facts import Bools, Facts
from qa.store.keyword import KeywordIndex
from qa.store.layered import Layered, duplicates_of
from qa.store.manifest import Manifest
from qa.store.owners import Owners
from qa.store.part import Part, embed_input
from qa.store.sentence_table import SentenceTable
from qa.store.spans import Chained

__all__ = ["Index", "Mask", "dense_vectors", "embed_input"]


Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Index:
    """Everything search needs for one generation; ``base_dead`` are documents whose base rows are replaced or gone."""

    manifest: Manifest
    documents: Mapping[str, Document]
    base: Part
    recent: Part
    base_dead: frozenset[str] = frozenset()
    revision: int = 0
    passages: Chained = field(init=False, repr=False, compare=False)
    live: Mask | None = field(init=False, repr=False, compare=False)
    keyword: KeywordIndex = field(init=False, repr=False, compare=False)
    sentences: SentenceTable = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        live: Mask | None = None
        if self.base_dead:
            live = np.ones(self.base.size + self.recent.size, dtype=np.bool_)
            for doc_id in self.base_dead:
                first, end = self.base.doc_rows.get(doc_id, (0, 0))
                live[first:end] = False
        owner = Owners(self.base.doc_rows, self.recent.doc_rows, self.base_dead)
        parts = (self.base.keyword, self.recent.keyword)
        k1, b = self.manifest.bm25_k1, self.manifest.bm25_b
        object.__setattr__(self, "passages", Chained(self.base.passages, self.recent.passages))
        object.__setattr__(self, "live", live)
        object.__setattr__(self, "keyword", KeywordIndex(parts, live, k1=k1, b=b))
        object.__setattr__(self, "sentences", SentenceTable((self.base.sentences, self.recent.sentences), owner))

    @classmethod
    def single(cls, manifest: Manifest, documents: Mapping[str, Document], part: Part) -> Index:
        """An index of one part (a fresh build)."""
        kept = documents if isinstance(documents, (DocumentFile, Layered)) else dict(documents)
        return cls(manifest, kept, part, Part.empty(part.dense.d))

    @property
    def size(self) -> int:
        """Number of passage rows, live or not."""
        return self.base.size + self.recent.size

    @property
    def live_passages(self) -> int:
        """Number of passages search can return."""
        return self.size if self.live is None else int(self.live.sum())

    @functools.cached_property
    def copies(self) -> dict[str, list[Document]]:
        """The copies grouped under each original, by original id."""
        docs = self.documents
        of = duplicates_of(docs)  # read only the copies where the documents are a file (and writes over it)
        out: dict[str, list[Document]] = {}
        for doc_id in sorted(of):
            out.setdefault(of[doc_id], []).append(docs[doc_id])
        return out

    @functools.cached_property
    def facts(self) -> Facts:
        """What filters and recency read of every document: from the file as it was opened (with the writes laid
        over it), else once a generation from the documents in memory."""
        docs = self.documents
        return docs.facts if isinstance(docs, (DocumentFile, Layered)) else Facts.of(docs.values())

    @functools.cached_property
    def row_documents(self) -> npt.NDArray[np.int32]:
        """Per row, the place in ``facts`` of the document whose live row it is (as ``doc_rows``), else -1."""
        position = self.facts.position
        out = []
        for part, hidden in ((self.base, self.base_dead | self.recent.doc_rows.keys()), (self.recent, frozenset())):
            table = [-1 if d in hidden else position.get(d, -1) for d in part.passages.doc_ids]
            out.append(np.array([*table, -1], dtype=np.int32)[np.asarray(part.passages.doc)])
        return np.concatenate(out)

    def rows_of(self, documents: Bools) -> Mask:
        """The rows of the documents flagged in ``documents`` (one flag per document of ``facts``)."""
        return np.append(documents, False)[self.row_documents]

    def title(self, doc_id: str) -> str:
        """The title of a document in the index."""
        return self.documents[doc_id].title

    def doc_rows(self, doc_id: str) -> range:
        """The live rows of a document's passages."""
        if doc_id in self.recent.doc_rows:
            first, end = self.recent.doc_rows[doc_id]
            return range(self.base.size + first, self.base.size + end)
        if doc_id in self.base.doc_rows and doc_id not in self.base_dead:
            return range(*self.base.doc_rows[doc_id])
        return range(0)

    def dense_search(
        self, query_vector: Vectors, depth: int, allowed: Mask | None = None, *, nprobe: int = 0
    ) -> list[tuple[int, float]]:
        """The ``depth`` best live (and ``allowed``) rows by inner product with the query, best first.

        A compressed part scans ``nprobe`` inverted lists (0: as many as chosen at build).
        """
        mask = self.live if allowed is None else (allowed if self.live is None else allowed & self.live)
        query = np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32)
        found: list[tuple[int, float]] = []
        for offset, part in ((0, self.base), (self.base.size, self.recent)):
            if not part.size:
                continue
            part_mask = None if mask is None else mask[offset : offset + part.size]
            found += [(offset + r, s) for r, s in _search(part, query, depth, part_mask, nprobe)]
        return sorted(found, key=lambda rs: (-rs[1], rs[0]))[:depth]

    def vectors_of(self, rows: Sequence[int]) -> Vectors:
        """The stored vectors of some rows, in order."""
        if not rows:
            return np.zeros((0, self.base.dense.d), dtype=np.float32)
        at = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(at), self.base.dense.d), dtype=np.float32)
        recent = at >= self.base.size
        if not recent.all():
            out[~recent] = self.base.vectors(at[~recent])
        if recent.any():
            out[recent] = self.recent.vectors(at[recent] - self.base.size)
        return out


def _search(part: Part, query: Vectors, depth: int, mask: Mask | None, nprobe: int) -> list[tuple[int, float]]:
    """Rows and scores of one part's dense index, restricted to ``mask`` when given."""
    if mask is not None and not mask.any():
        return []
    k = min(depth, part.dense.ntotal)
    selector = None
    if mask is not None and not mask.all():
        bits = np.packbits(mask, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
    scores, rows = dense_index.search(part.dense, part.stored, query, k, selector=selector, nprobe=nprobe)
    return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]


def dense_vectors(index: Index, rows: list[int]) -> Vectors:
    """The stored vectors of some passages."""
    return index.vectors_of(rows)
