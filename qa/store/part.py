"""A part of an index: some documents' passages with their vectors, keyword postings and sentences.

An index is a large base part, written at the last checkpoint, and a small recent part holding what was
written since; both are immutable, so a reader keeps the one it started with while a writer makes new ones.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from qa.base.errors import CorpusError
from qa.base.records import Document, Passage
from qa.base.settings import BuildSettings
from qa.store import dense_index, keyword, spans
from qa.store.chunking import Chunker, token_counter
from qa.store.embedding import Encoder, Vectors, embed_all
from qa.store.keyword import Postings
from qa.store.mapping import gather, prefetch, read_dense
from qa.store.sentence_table import SentencePart, split_passages
from qa.store.spans import Runs, Spans, doc_runs

Progress = Callable[[str], None]
# A compressed part's files in the order they are read into the page cache on load: every request scans the dense
# lists and postings and re-scores stored vectors; the sentence table (the largest) is read for the candidates.
PREFETCHED = ("dense", "vectors", "keyword", "sentences", "passages", "sentence_vectors")
# What every search reads at random, a little of each row: the dense index with its re-score vectors (whole files), and
# the row tables of the passages, sentences and postings (not their texts, sentence vectors or posting lists)
SEARCHED: dict[str, tuple[str, ...]] = {
    "dense": ("",),  # the whole file
    "vectors": ("",),
    "passages": spans.TABLES,
    "sentences": spans.TABLES,
    "keyword": keyword.TABLES,
}


def locked_files(folder: Path, names: Mapping[str, str], scope: str) -> list[Path]:
    """The files of a snapshot that ``QA_LOCK_INDEX=scope`` locks: none, what every search reads at random, or all."""
    if scope == "all":
        return [folder / name for name in names.values()]
    if scope != "search":
        return []
    wanted = [folder / names[role] / table for role, tables in SEARCHED.items() if role in names for table in tables]
    return [path for path in wanted if path.exists()]  # an older layout may lack some (vocab.json, postings.npz)


def embed_input(title: str, text: str, with_title: bool) -> str:
    """The text indexed for a passage: its article's title, then the passage (the first passage always has it)."""
    return f"{title}\n{text}" if with_title else text


def flat(vectors: Vectors, dimension: int) -> faiss.Index:
    """An exact inner-product FAISS index over the vectors."""
    dense = faiss.IndexFlatIP(dimension)
    if len(vectors):
        dense.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return dense


def indexed_texts(passages: Sequence[Passage], docs: Mapping[str, Document], embed_title: bool) -> list[str]:
    """What is embedded and keyword-indexed for each passage (titles where ``embed_input`` puts them)."""
    return [
        embed_input(docs[p.doc_id].title, p.text, embed_title or prev is None or p.doc_id != prev.doc_id)
        for prev, p in zip([None, *passages], passages, strict=False)
    ]


def chunker_for(settings: BuildSettings, encoder: Encoder) -> Chunker:
    """The chunker of a build: the settings' token budget, each passage cut until the model reads it whole."""
    return Chunker(
        count=token_counter(settings.encoding),
        max_tokens=settings.chunk_tokens,
        overlap=settings.chunk_overlap,
        fits=lambda doc, text: encoder.fits(embed_input(doc.title, text, True)),
    )


@dataclass(frozen=True)
class Part:
    """Passages (row i of ``dense`` and ``keyword`` is ``passages[i]``) and the sentences inside them.

    A compressed ``dense`` (IVF-PQ) comes with ``stored``: the float16 vectors it re-scores from and folds are made of.
    """

    passages: Spans
    dense: faiss.Index
    keyword: Postings
    sentences: SentencePart
    stored: dense_index.Stored | None = None
    doc_rows: Runs = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "passages", Spans.of(self.passages))
        if not self.dense.ntotal == len(self.passages) == self.keyword.size:
            raise ValueError(
                f"{len(self.passages)} passages, {self.dense.ntotal} vectors and {self.keyword.size} keyword rows"
            )
        object.__setattr__(self, "doc_rows", doc_runs(self.passages))

    @property
    def size(self) -> int:
        """Number of passages."""
        return len(self.passages)

    @classmethod
    def empty(cls, dimension: int) -> Part:
        """A part with no passages."""
        return cls(
            Spans.of([]),
            flat(np.zeros((0, dimension), np.float32), dimension),
            Postings.build([]),
            _no_sentences(dimension),
        )

    @classmethod
    def build(
        cls,
        docs: Sequence[Document],
        settings: BuildSettings,
        encoder: Encoder,
        *,
        progress: Progress | None = None,
        with_sentences: bool = True,
    ) -> Part:
        """Chunk and embed the documents: the one step whose cost grows with the text, so it sees only new text."""
        say = progress or (lambda _msg: None)
        by_id = {d.id: d for d in docs}
        chunker = chunker_for(settings, encoder)
        passages = [p for d in docs for p in chunker.chunk(d)]
        if docs and not passages:
            raise CorpusError(f"the {len(docs)} documents hold no article text to index; add article text")
        say(f"chunked {len(docs)} documents into {len(passages)} passages; embedding")
        inputs = indexed_texts(passages, by_id, settings.embed_title)
        vectors = embed_all(encoder, inputs, settings.batch_size, "passages", say)
        if with_sentences:
            say(f"embedding the sentences of {len(passages)} passages (answers and the best-sentence signal)")
            spans = split_passages(passages, by_id)
            texts = [s.text for s in spans]
            sentences = SentencePart.embedded(spans, embed_all(encoder, texts, settings.batch_size, "sentences", say))
        else:
            sentences = _no_sentences(encoder.dimension)
        return cls(Spans.of(passages), flat(vectors, encoder.dimension), Postings.build(inputs), sentences)

    def vectors(self, rows: Sequence[int] | np.ndarray | None = None) -> Vectors:
        """The stored vectors of some rows (all when None)."""
        if self.stored is not None:
            picked = self.stored if rows is None else gather(self.stored, np.asarray(rows, dtype=np.int64))
            return np.asarray(picked, dtype=np.float32).reshape(-1, self.dense.d)
        if rows is None:
            return self.dense.reconstruct_n(0, self.size) if self.size else np.zeros((0, self.dense.d), np.float32)
        if not len(rows):
            return np.zeros((0, self.dense.d), dtype=np.float32)
        return self.dense.reconstruct_batch(np.asarray(rows, dtype=np.int64))

    def without(self, doc_ids: Collection[str]) -> Part:
        """This part less some documents (a copy; the cost is this part's size)."""
        gone = [d for d in doc_ids if d in self.doc_rows]
        if not gone:
            return self
        gone_docs = [i for i in map(self.passages.doc_ids.get, gone) if i is not None]
        keep = np.flatnonzero(~np.isin(self.passages.doc, gone_docs)).astype(np.int64)
        return Part(
            self.passages.take(keep),
            flat(self.vectors(keep), self.dense.d),
            self.keyword.select(keep),
            self.sentences.without(set(gone)),
        )

    @staticmethod
    def join(parts: Sequence[Part], dimension: int) -> Part:
        """One part holding the passages of several, in order."""
        vectors = [p.vectors() for p in parts if p.size]
        return Part(
            Spans.join([p.passages for p in parts]),
            flat(np.vstack(vectors) if vectors else np.zeros((0, dimension), np.float32), dimension),
            Postings.join([p.keyword for p in parts]),
            SentencePart.join([p.sentences for p in parts], dimension),
        )

    def save(self, folder: Path, names: dict[str, str]) -> None:
        """Write the part's files into ``folder`` under the given names (each written aside by the caller)."""
        faiss.write_index(self.dense, str(folder / names["dense"]))
        if self.stored is not None:
            dense_index.save_stored(folder / names["vectors"], self.stored)
        self.passages.save(folder / names["passages"])
        self.keyword.save(folder / names["keyword"])
        self.sentences.save(folder / names["sentences"], folder / names["sentence_vectors"])

    @classmethod
    def load(cls, folder: Path, names: dict[str, str]) -> Part:
        """Read a part written by :meth:`save`, its vectors and postings memory-mapped (see qa/store/mapping.py)."""
        compressed = "vectors" in names
        if compressed:  # read by every request, somewhere: into the page cache now, not row by row on demand
            prefetch([folder / names[n] for n in PREFETCHED])
        return cls(
            Spans.load(folder / names["passages"]),
            read_dense(folder / names["dense"]),
            Postings.load(folder / names["keyword"]),
            SentencePart.load(folder / names["sentences"], folder / names["sentence_vectors"]),
            stored=dense_index.load_stored(folder / names["vectors"]) if compressed else None,
        )

    def with_dense(
        self, kind: str, say: Progress, template: faiss.Index | None = None
    ) -> tuple[Part, dense_index.DenseInfo | None]:
        """This part over a dense index of ``kind`` (IVF-PQ: trained, or ``template``'s training reused; recall
        measured) and the new index's description (None when the part already had one of that kind)."""
        if kind == "flat":
            if self.stored is None:
                return self, dense_index.DenseInfo()
            return Part(
                self.passages, flat(self.vectors(), self.dense.d), self.keyword, self.sentences
            ), dense_index.DenseInfo()
        if self.stored is not None:
            return self, None
        dense, stored, info = dense_index.compress(self.vectors(), say, template)
        return Part(self.passages, dense, self.keyword, self.sentences, stored=stored), info


def _no_sentences(dimension: int) -> SentencePart:
    """An empty sentence part."""
    return SentencePart(Spans.of([]), np.zeros((0, dimension), dtype=np.float32))
