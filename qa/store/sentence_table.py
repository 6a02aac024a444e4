"""Every indexed sentence with its vector, so answers are picked without embedding anything at query time."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from qa.base.records import Document, Passage
from qa.base.sentences import split_sentences
from qa.store.embedding import Encoder, Vectors, embed_all
from qa.store.mapping import gather, mapped
from qa.store.owners import Owners
from qa.store.spans import Bounds, Spans

MIN_WORDS = 4
Rows = npt.NDArray[np.int64]
Table = npt.NDArray[np.float32] | npt.NDArray[np.float16]  # float16 on disk since this version; float32 before
STORED = np.float16  # how :meth:`SentencePart.save` writes the vectors: half the bytes every /ask reads
BLOCK = 262_144  # rows cast at a time when writing: never a copy of a whole table
INSIDE_KEPT = 50_000  # passages whose sentence rows a table keeps once found (the first asked about; bounds memory)


@dataclass(frozen=True)
class SentencePart:
    """The sentences of some documents' passages: row i of ``vectors`` is ``spans[i]``.

    ``vectors`` are float32 when embedded, float16 once saved and loaded (float32 in tables written before); rows
    are cast to float32 when read (:meth:`SentenceTable.vectors_at`), so scores are computed in float32.

    Rows are also kept sorted by document and start (``order``), with one sort key per row (document number times
    ``width`` plus start; ``width`` is past every end), so the sentences inside any passages are found by one
    ``searchsorted``, with no object per sentence.
    """

    spans: Spans
    vectors: Table
    _order: Rows | None = field(init=False, repr=False, compare=False)  # None: the rows are in text order already
    _width: int = field(init=False, repr=False, compare=False)
    _keys: Rows = field(init=False, repr=False, compare=False)
    _ends: Rows = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spans = Spans.of(self.spans)
        object.__setattr__(self, "spans", spans)
        if len(self.vectors) != len(spans):
            raise ValueError(f"{len(spans)} sentences but {len(self.vectors)} sentence vectors")
        doc, start, end = np.asarray(spans.doc), np.asarray(spans.start), np.asarray(spans.end)
        width = int(end.max(initial=0)) + 1
        keys = doc.astype(np.int64) * width + start
        step = np.diff(keys)
        order = None  # rows written in text order (a saved table's are) need no sort and no sorted copies
        if not np.all((step > 0) | ((step == 0) & (np.diff(end) >= 0))):
            order = np.lexsort((np.arange(len(doc)), end, start, doc)).astype(np.int64)
            keys, end = keys[order], end[order]
        object.__setattr__(self, "_order", order)
        object.__setattr__(self, "_width", width)
        object.__setattr__(self, "_keys", keys)
        object.__setattr__(self, "_ends", end)

    def has(self, doc_id: str) -> bool:
        """True when some sentence of the document is in this part."""
        return doc_id in self.spans.doc_ids

    def documents(self) -> list[str]:
        """The documents with sentences in this part."""
        return list(self.spans.doc_ids)

    def places(self, docs: Sequence[str]) -> Rows:
        """Each document's number in this part, or -1 when it has no sentences here."""
        return self.spans.doc_ids.places(docs)

    def rows_within(self, at: Rows, starts: Rows, ends: Rows) -> tuple[npt.NDArray[np.intp], Rows]:
        """Rows of the sentences lying inside each (document number ``at``, start, end) range, ranges of document -1
        left out: (which range, row) pairs, by range, each range's in text order (start, then end)."""
        known = np.flatnonzero(at >= 0)
        base = at[known] * self._width  # a range's bounds clipped to the width stay inside its document's keys
        lo = np.searchsorted(self._keys, base + np.clip(starts[known], 0, self._width), "left")
        hi = np.searchsorted(self._keys, base + np.clip(ends[known], 0, self._width), "left")
        counts = hi - lo
        which = np.repeat(known, counts)
        pos = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()), dtype=np.int64)
        inside = self._ends[pos] <= ends[which]
        return which[inside], pos[inside] if self._order is None else self._order[pos[inside]]

    def rows_of(self, doc_ids: Collection[str]) -> Rows:
        """Rows of the sentences of some documents, ascending."""
        wanted = [d for d in map(self.spans.doc_ids.get, doc_ids) if d is not None]
        return np.flatnonzero(np.isin(np.asarray(self.spans.doc), wanted)).astype(np.int64)

    def without(self, doc_ids: Collection[str]) -> SentencePart:
        """This part less the sentences of some documents."""
        gone = self.rows_of(set(doc_ids))
        if not len(gone):
            return self
        keep = np.setdiff1d(np.arange(len(self.spans), dtype=np.int64), gone)
        return SentencePart(self.spans.take(keep), self.vectors[keep])

    @staticmethod
    def join(parts: list[SentencePart], dimension: int) -> SentencePart:
        """One part holding the sentences of several."""
        spans = Spans.join([p.spans for p in parts])
        vectors = [p.vectors for p in parts if len(p.spans)]
        if len(vectors) == 1:
            return SentencePart(spans, vectors[0])
        return SentencePart(spans, cast(Table, np.vstack(vectors)) if vectors else np.zeros((0, dimension), np.float32))

    def save(self, spans_path: Path, vectors_path: Path) -> None:
        """Write spans (a folder of arrays, see qa/store/spans.py) and vectors (float16 .npy, cast in blocks)."""
        self.spans.save(spans_path)
        out = np.lib.format.open_memmap(vectors_path, mode="w+", dtype=STORED, shape=self.vectors.shape)
        for lo in range(0, len(self.vectors), BLOCK):
            out[lo : lo + BLOCK] = self.vectors[lo : lo + BLOCK]
        out.flush()
        del out

    @classmethod
    def embedded(cls, sentences: list[Passage], vectors: Vectors) -> SentencePart:
        """Freshly embedded sentences, their vectors kept as a save stores them (float16): same scores after a save."""
        return cls(Spans.of(sentences), vectors.astype(STORED))

    @classmethod
    def load(cls, spans_path: Path, vectors_path: Path) -> SentencePart:
        """Read spans and vectors written by :meth:`save` (both memory-mapped; float32 vectors of older indexes too)."""
        vectors: npt.NDArray[Any] = mapped(vectors_path)
        if vectors.dtype not in (np.float16, np.float32):
            raise ValueError(f"{vectors_path.name}: sentence vectors stored as {vectors.dtype}, not float16 or float32")
        return cls(Spans.load(spans_path), vectors)


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
    rows of other documents are dead: never found by :meth:`rows_in`, nor counted by :meth:`live_count`.
    """

    parts: tuple[SentencePart, ...]
    owner: Mapping[str, int] | None = None
    _offsets: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _dead: int = field(init=False, repr=False, compare=False)
    _inside: dict[tuple[str, int, int], tuple[int, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        offsets: list[int] = []
        dead = total = 0
        for i, part in enumerate(self.parts):
            offsets.append(total)
            owner = self.owner
            if isinstance(owner, Owners):
                dead += len(part.rows_of(owner.others(i, part.spans.doc_ids)))
            elif owner is not None:
                dead += len(part.rows_of([d for d in part.documents() if owner.get(d) != i]))
            total += len(part.spans)
        object.__setattr__(self, "_offsets", tuple(offsets))
        object.__setattr__(self, "_dead", dead)
        object.__setattr__(self, "_inside", {})

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
        return cls((SentencePart.embedded(spans, vectors),))

    @property
    def spans(self) -> Spans:
        """Every row's span, live or not."""
        return Spans.join([p.spans for p in self.parts])

    @property
    def vectors(self) -> Table:
        """Every row's vector as stored (a copy when there are several parts)."""
        if len(self.parts) == 1:
            return self.parts[0].vectors
        return cast(Table, np.vstack([p.vectors for p in self.parts]))  # float16 when every part is, else float32

    def _locate(self, row: int) -> tuple[SentencePart, int]:
        """The part holding a row and the row's place in it."""
        i = bisect.bisect_right(self._offsets, row) - 1
        return self.parts[i], row - self._offsets[i]

    def span(self, row: int) -> Passage:
        """The sentence in a row."""
        part, local = self._locate(row)
        return part.spans[local]

    def vectors_at(self, rows: Sequence[int] | Rows) -> Vectors:
        """The vectors of some rows, in order, as float32 (only their pages of a mapped file are read)."""
        dimension = self.parts[0].vectors.shape[1] if self.parts else 0
        if not len(rows):
            return np.zeros((0, dimension), dtype=np.float32)
        at = np.asarray(rows, dtype=np.int64)
        which = np.searchsorted(np.asarray(self._offsets, dtype=np.int64), at, side="right") - 1
        first = int(which[0])
        if (which == first).all():  # one part holds them all (always, before any write): no masks
            return gather(self.parts[first].vectors, at - self._offsets[first]).astype(np.float32, copy=False)
        out = np.empty((len(at), dimension), dtype=np.float32)
        for i, part in enumerate(self.parts):
            picked = which == i
            if picked.any():
                out[picked] = gather(part.vectors, at[picked] - self._offsets[i])
        return out

    def live_count(self) -> int:
        """Number of live rows."""
        return sum(len(p.spans) for p in self.parts) - self._dead

    def rows_in(self, passage: Passage) -> list[int]:
        """Rows of the live sentences lying inside a passage, in text order (kept for the passages asked about)."""
        key = (passage.doc_id, passage.start, passage.end)
        found = self._inside.get(key)
        if found is None:
            found = tuple(self.rows_inside(passage.doc_id, passage.start, passage.end))
            if len(self._inside) < INSIDE_KEPT:
                self._inside[key] = found
        return list(found)

    def rows_inside_ranges(self, ranges: Bounds) -> tuple[npt.NDArray[np.intp], Rows]:
        """:meth:`rows_inside` of many ranges, given as documents, starts and ends (``Spans.bounds_many``): (which
        range, row) pairs, by range."""
        docs, starts, ends = ranges
        which: list[npt.NDArray[np.intp]] = []
        rows: list[Rows] = []
        owner, owned, parts = self.owner, None, self.parts  # owned: the part holding each range's document
        if isinstance(owner, Owners) and owner.settled:
            parts = parts[:1]  # only the base holds live documents, and each of them is live: no owner lookups
        elif owner is not None:
            owned = np.asarray([-1 if o is None else o for o in map(owner.get, docs)], dtype=np.int64)
        for i, part in enumerate(parts):
            if not len(part.spans):
                continue
            at = part.places(docs)
            local, found = part.rows_within(at if owned is None else np.where(owned == i, at, -1), starts, ends)
            if len(local):
                which.append(local)
                rows.append(found + self._offsets[i])
        if len(which) == 1:
            return which[0], rows[0]
        if not which:
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.int64)
        all_which, all_rows = np.concatenate(which), np.concatenate(rows)
        order = np.argsort(all_which, kind="stable")  # by range, parts in order
        return all_which[order], all_rows[order]

    def rows_inside(self, doc_id: str, start: int, end: int) -> list[int]:
        """Rows of the live sentences of a document lying inside ``start:end``, in text order."""
        one = np.asarray([start], dtype=np.int64), np.asarray([end], dtype=np.int64)
        rows: list[int] = self.rows_inside_ranges(([doc_id], *one))[1].tolist()
        return rows
