"""Every indexed sentence with its vector, so answers are picked without embedding anything at query time."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np

from qa.base.records import Document, Passage
from qa.base.sentences import split_sentences
from qa.store.embedding import Encoder, Vectors, embed_all
from qa.store.mapping import mapped

MIN_WORDS = 4
ByDoc = dict[str, list[tuple[int, int, int]]]


@dataclass(frozen=True)
class SentencePart:
    """The sentences of some documents' passages: row i of ``vectors`` is ``spans[i]``."""

    spans: list[Passage]
    vectors: Vectors
    by_doc: ByDoc = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.vectors) != len(self.spans):
            raise ValueError(f"{len(self.spans)} sentences but {len(self.vectors)} sentence vectors")
        by_doc: ByDoc = {}
        for row, span in enumerate(self.spans):
            by_doc.setdefault(span.doc_id, []).append((span.start, span.end, row))
        for rows in by_doc.values():
            rows.sort()
        object.__setattr__(self, "by_doc", by_doc)

    def without(self, doc_ids: Collection[str]) -> SentencePart:
        """This part less the sentences of some documents."""
        keep = [i for i, s in enumerate(self.spans) if s.doc_id not in doc_ids]
        return SentencePart([self.spans[i] for i in keep], self.vectors[keep])

    @staticmethod
    def join(parts: list[SentencePart], dimension: int) -> SentencePart:
        """One part holding the sentences of several."""
        spans = [s for p in parts for s in p.spans]
        vectors = [p.vectors for p in parts if len(p.spans)]
        return SentencePart(spans, np.vstack(vectors) if vectors else np.zeros((0, dimension), dtype=np.float32))

    def save(self, spans_path: Path, vectors_path: Path) -> None:
        """Write spans (JSON Lines) and vectors (.npy)."""
        encoder = msgspec.json.Encoder()
        spans_path.write_bytes(b"".join(encoder.encode(s) + b"\n" for s in self.spans))
        with vectors_path.open("wb") as fh:
            np.save(fh, self.vectors, allow_pickle=False)

    @classmethod
    def load(cls, spans_path: Path, vectors_path: Path) -> SentencePart:
        """Read spans and vectors written by :meth:`save` (the vectors memory-mapped)."""
        lines = spans_path.read_bytes().splitlines()
        spans = msgspec.json.decode(b"[" + b",".join(lines) + b"]", type=list[Passage])
        return cls(spans, mapped(vectors_path, np.float32))


def split_passages(passages: list[Passage], docs: dict[str, Document]) -> list[Passage]:
    """The sentences of the passages (each kept once, short fragments left out), in order."""
    seen: set[tuple[str, int, int]] = set()
    spans: list[Passage] = []
    for p in passages:
        text = docs[p.doc_id].text
        for start, end in split_sentences(text, p.start, p.end):
            key = (p.doc_id, start, end)
            if key not in seen and len(text[start:end].split()) >= MIN_WORDS:
                seen.add(key)
                spans.append(Passage(doc_id=p.doc_id, start=start, end=end, text=text[start:end]))
    return spans


@dataclass(frozen=True)
class SentenceTable:
    """Sentences of the live documents over one or more parts; row numbers run through the parts in order.

    ``owner`` names the part holding each live document's sentences (None: every document in every part is live);
    rows of other documents are dead: never found by :meth:`rows_in`, scored -inf by :meth:`similarities`.
    """

    parts: tuple[SentencePart, ...]
    owner: dict[str, int] | None = None
    _offsets: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _dead: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        offsets: list[int] = []
        dead: list[int] = []
        total = 0
        for i, part in enumerate(self.parts):
            offsets.append(total)
            if self.owner is not None:
                for doc_id, rows in part.by_doc.items():
                    if self.owner.get(doc_id) != i:
                        dead.extend(total + row for _, _, row in rows)
            total += len(part.spans)
        object.__setattr__(self, "_offsets", tuple(offsets))
        object.__setattr__(self, "_dead", np.asarray(dead, dtype=np.int64))

    @classmethod
    def build(
        cls,
        passages: list[Passage],
        docs: dict[str, Document],
        encoder: Encoder,
        batch_size: int,
        say: Callable[[str], None] | None = None,
    ) -> SentenceTable:
        """Split every passage into sentences and embed them, reporting progress on long runs."""
        spans = split_passages(passages, docs)
        vectors = embed_all(encoder, [s.text for s in spans], batch_size, "sentences", say or (lambda _msg: None))
        return cls((SentencePart(spans, vectors),))

    @property
    def spans(self) -> list[Passage]:
        """Every row's span, live or not."""
        return [s for p in self.parts for s in p.spans]

    @property
    def vectors(self) -> Vectors:
        """Every row's vector (a copy when there are several parts)."""
        if len(self.parts) == 1:
            return self.parts[0].vectors
        return np.vstack([p.vectors for p in self.parts])

    def _locate(self, row: int) -> tuple[SentencePart, int]:
        """The part holding a row and the row's place in it."""
        i = bisect.bisect_right(self._offsets, row) - 1
        return self.parts[i], row - self._offsets[i]

    def span(self, row: int) -> Passage:
        """The sentence in a row."""
        part, local = self._locate(row)
        return part.spans[local]

    def vectors_at(self, rows: list[int]) -> Vectors:
        """The vectors of some rows, in order (only their pages of a mapped file are read)."""
        dimension = self.parts[0].vectors.shape[1] if self.parts else 0
        if not rows:
            return np.zeros((0, dimension), dtype=np.float32)
        at = np.asarray(rows, dtype=np.int64)
        which = np.searchsorted(np.asarray(self._offsets, dtype=np.int64), at, side="right") - 1
        out = np.empty((len(at), dimension), dtype=np.float32)
        for i, part in enumerate(self.parts):
            picked = which == i
            if picked.any():
                out[picked] = part.vectors[at[picked] - self._offsets[i]]
        return out

    def similarities(self, query_vector: Vectors) -> Vectors:
        """Every row's dot product with the query; dead rows get -inf."""
        found = [p.vectors @ query_vector for p in self.parts]
        sims: Vectors = np.concatenate(found).astype(np.float32) if found else np.zeros(0, dtype=np.float32)
        if len(self._dead):
            sims[self._dead] = -np.inf
        return sims

    def live_count(self) -> int:
        """Number of live rows."""
        return sum(len(p.spans) for p in self.parts) - len(self._dead)

    def rows_in(self, passage: Passage) -> list[int]:
        """Rows of the live sentences lying inside a passage, in text order."""
        if self.owner is None:
            found = [(i, p.by_doc[passage.doc_id]) for i, p in enumerate(self.parts) if passage.doc_id in p.by_doc]
        else:
            i = self.owner.get(passage.doc_id)
            found = [] if i is None else [(i, self.parts[i].by_doc.get(passage.doc_id, []))]
        out = []
        for i, rows in found:
            first = bisect.bisect_left(rows, (passage.start, -1, -1))
            for start, end, row in rows[first:]:
                if start >= passage.end:
                    break
                if end <= passage.end:
                    out.append(self._offsets[i] + row)
        return out
