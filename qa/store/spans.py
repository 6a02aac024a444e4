"""Spans of documents (passages or sentences) kept as arrays and one text blob, not as a Python object each.

A million passages as objects take about a kilobyte each in memory; here they take 20 bytes of arrays each and
their text's bytes, which a loaded index maps from disk (read when touched, shared by every process serving it).
Row i reads back as ``Passage(doc_id, start, end, text)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import msgspec
import numpy as np
import numpy.typing as npt

from qa.base.records import Passage
from qa.store.mapping import mapped, randomly, read_bytes
from qa.store.strings import Strings

ARRAYS = ("doc", "start", "end", "text_at")
TEXT = "text.bin"
DOC_IDS = "doc_ids"  # the documents' string table (qa.store.strings); an older index has doc_ids.json instead
TABLES = (*(f"{name}.npy" for name in ARRAYS), *Strings.files(DOC_IDS))  # the row tables, small beside the text
Ints = npt.NDArray[np.int64]
Bounds = tuple[list[str], Ints, Ints]  # documents, starts and ends of some rows


class Spans(Sequence[Passage]):
    """Row i: the ``doc_ids[doc[i]]`` slice ``start[i]:end[i]`` whose text is ``blob[text_at[i]:text_at[i + 1]]``."""

    __slots__ = ("blob", "doc", "doc_ids", "end", "start", "text_at")

    def __init__(
        self,
        doc_ids: Sequence[str],
        doc: npt.NDArray[np.int32],
        start: Ints,
        end: Ints,
        text_at: Ints,
        blob: npt.NDArray[np.uint8],
    ) -> None:
        if not len(doc) == len(start) == len(end) == len(text_at) - 1:
            raise ValueError("span arrays are inconsistent")
        ids = doc_ids if isinstance(doc_ids, Strings) else Strings.of(doc_ids)
        self.doc_ids, self.doc, self.start, self.end, self.text_at, self.blob = ids, doc, start, end, text_at, blob

    @classmethod
    def of(cls, items: Iterable[Passage]) -> Spans:
        """Spans holding the given passages, in order (already Spans: themselves)."""
        if isinstance(items, Spans):
            return items
        ids: dict[str, int] = {}
        doc, start, end, texts = [], [], [], []
        for p in items:
            doc.append(ids.setdefault(p.doc_id, len(ids)))
            start.append(p.start)
            end.append(p.end)
            texts.append(p.text.encode())
        text_at = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum([len(t) for t in texts], out=text_at[1:])
        return cls(
            Strings.of(ids),
            np.asarray(doc, dtype=np.int32),
            np.asarray(start, dtype=np.int64),
            np.asarray(end, dtype=np.int64),
            text_at,
            np.frombuffer(b"".join(texts), dtype=np.uint8),
        )

    def __len__(self) -> int:
        return len(self.doc)

    @overload
    def __getitem__(self, row: int) -> Passage: ...

    @overload
    def __getitem__(self, row: slice) -> Spans: ...

    def __getitem__(self, row: int | slice) -> Passage | Spans:
        if isinstance(row, slice):
            return self.take(np.arange(len(self), dtype=np.int64)[row])
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(row)
        lo, hi = int(self.text_at[row]), int(self.text_at[row + 1])
        return Passage(
            doc_id=self.doc_ids[int(self.doc[row])],
            start=int(self.start[row]),
            end=int(self.end[row]),
            text=read_bytes(self.blob, lo, hi).decode(),
        )

    def __iter__(self) -> Iterator[Passage]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other: Sequence[Passage]) -> Spans:
        return Spans.join([self, Spans.of(other)])

    def __repr__(self) -> str:
        return f"Spans({len(self)} rows of {len(self.doc_ids)} documents)"

    def bounds(self, row: int) -> tuple[str, int, int]:
        """The document and character range of one row, without reading its text."""
        return self.doc_ids[int(self.doc[row])], int(self.start[row]), int(self.end[row])

    def bounds_many(self, rows: Ints) -> Bounds:
        """:meth:`bounds` of many rows: their documents, starts and ends, in the order given."""
        ids = self.doc_ids
        return (
            [ids[d] for d in np.asarray(self.doc)[rows].tolist()],
            np.asarray(self.start)[rows].astype(np.int64),
            np.asarray(self.end)[rows].astype(np.int64),
        )

    def take(self, rows: npt.NDArray[np.int64]) -> Spans:
        """Some rows, in the order given (a copy)."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.text_at[rows + 1] - self.text_at[rows]
        text_at = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=text_at[1:])
        if not len(rows):
            return Spans.of([])
        blob = np.concatenate([self.blob[int(self.text_at[r]) : int(self.text_at[r + 1])] for r in rows.tolist()])
        used, doc = np.unique(self.doc[rows], return_inverse=True)
        return Spans(
            self.doc_ids.take(np.asarray(used, dtype=np.int64)),
            np.asarray(doc, dtype=np.int32).reshape(-1),
            np.asarray(self.start[rows], dtype=np.int64),
            np.asarray(self.end[rows], dtype=np.int64),
            text_at,
            np.asarray(blob, dtype=np.uint8),
        )

    @staticmethod
    def join(parts: Sequence[Spans]) -> Spans:
        """One set of spans holding the rows of several, in order."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return Spans.of([])
        if len(parts) == 1:
            return parts[0]
        ids: dict[str, int] = {}
        docs, text_at, offset = [], [np.zeros(1, dtype=np.int64)], 0
        for part in parts:
            remap = np.asarray([ids.setdefault(d, len(ids)) for d in part.doc_ids], dtype=np.int32)
            docs.append(remap[part.doc])
            text_at.append(np.asarray(part.text_at[1:]) + offset)
            offset += int(part.text_at[-1])
        return Spans(
            Strings.of(ids),
            np.concatenate(docs).astype(np.int32),
            np.concatenate([p.start for p in parts]).astype(np.int64),
            np.concatenate([p.end for p in parts]).astype(np.int64),
            np.concatenate(text_at),
            np.concatenate([p.blob for p in parts]).astype(np.uint8),
        )

    def save(self, folder: Path) -> None:
        """Write the spans into ``folder``: document ids (a string table), one .npy file per array and the text."""
        folder.mkdir(parents=True, exist_ok=True)
        self.doc_ids.save(folder, DOC_IDS)
        for name in ARRAYS:
            with (folder / f"{name}.npy").open("wb") as fh:
                np.save(fh, np.asarray(getattr(self, name)), allow_pickle=False)
        with (folder / TEXT).open("wb") as fh:
            for lo in range(0, len(self.blob), 1 << 26):
                fh.write(self.blob[lo : lo + (1 << 26)].tobytes())

    @classmethod
    def load(cls, path: Path) -> Spans:
        """Spans written by :meth:`save` (arrays and text mapped), or an older index's JSON Lines file of passages."""
        if path.is_file():
            lines = path.read_bytes().splitlines()
            return cls.of(msgspec.json.decode(b"[" + b",".join(lines) + b"]", type=list[Passage]))
        arrays: dict[str, Any] = {name: mapped(path / f"{name}.npy") for name in ARRAYS}
        size = (path / TEXT).stat().st_size
        blob = randomly(np.memmap(path / TEXT, dtype=np.uint8, mode="r")) if size else np.zeros(0, dtype=np.uint8)
        if (path / "doc_ids.json").is_file():
            doc_ids = Strings.of(msgspec.json.decode((path / "doc_ids.json").read_bytes(), type=list[str]))
        else:
            doc_ids = Strings.load(path, DOC_IDS)
        out = cls(doc_ids, **arrays, blob=blob)
        if int(out.text_at[-1]) != size or (len(out) and int(out.doc.max()) >= len(doc_ids)):
            raise ValueError(f"spans in {path} are inconsistent")
        return out


class Chained(Sequence[Passage]):
    """Two sets of spans read as one (rows of ``second`` follow those of ``first``), without copying either."""

    __slots__ = ("first", "second")

    def __init__(self, first: Spans, second: Spans) -> None:
        self.first, self.second = first, second

    def __len__(self) -> int:
        return len(self.first) + len(self.second)

    @overload
    def __getitem__(self, row: int) -> Passage: ...

    @overload
    def __getitem__(self, row: slice) -> list[Passage]: ...

    def __getitem__(self, row: int | slice) -> Passage | list[Passage]:
        if isinstance(row, slice):
            return [self[i] for i in range(len(self))[row]]
        if row < 0:
            row += len(self)
        return self.first[row] if row < len(self.first) else self.second[row - len(self.first)]

    def bounds(self, row: int) -> tuple[str, int, int]:
        """The document and character range of one row, without reading its text."""
        return self.first.bounds(row) if row < len(self.first) else self.second.bounds(row - len(self.first))

    def bounds_many(self, rows: Ints) -> Bounds:
        """:meth:`bounds` of many rows: their documents, starts and ends, in the order given."""
        split = len(self.first)
        if not len(self.second) or not split:
            return self.first.bounds_many(rows) if split else self.second.bounds_many(rows)
        second = rows >= split
        docs, starts, ends = self.first.bounds_many(np.where(second, 0, rows))
        if second.any():
            more, more_starts, more_ends = self.second.bounds_many(rows[second] - split)
            at = np.flatnonzero(second).tolist()
            for i, doc in zip(at, more, strict=True):
                docs[i] = doc
            starts[second], ends[second] = more_starts, more_ends
        return docs, starts, ends

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]


class Runs(Mapping[str, tuple[int, int]]):
    """Each document's rows as (first, end): found through the spans' document table, two integers a document."""

    __slots__ = ("end", "first", "ids")

    def __init__(self, ids: Strings, first: Ints, end: Ints) -> None:
        self.ids, self.first, self.end = ids, first, end  # first[d] == -1: document d has no rows

    def __getitem__(self, doc_id: str) -> tuple[int, int]:
        d = self.ids.get(doc_id)
        if d is None or self.first[d] < 0:
            raise KeyError(doc_id)
        return int(self.first[d]), int(self.end[d])

    def __iter__(self) -> Iterator[str]:
        return (doc_id for doc_id, first in zip(self.ids, self.first.tolist(), strict=True) if first >= 0)

    def __len__(self) -> int:
        return int((self.first >= 0).sum())


def doc_runs(spans: Spans) -> Runs:
    """Each document's rows as (first, end), or ValueError when a document's rows are not contiguous."""
    first = np.full(len(spans.doc_ids), -1, dtype=np.int64)
    end = first.copy()
    if not len(spans):
        return Runs(spans.doc_ids, first, end)
    doc = np.asarray(spans.doc)
    starts = np.flatnonzero(np.diff(doc, prepend=-1))
    ends = np.append(starts[1:], len(doc))
    firsts = doc[starts]
    if len(np.unique(firsts)) != len(firsts):
        seen: set[int] = set()
        for d in firsts.tolist():
            if d in seen:
                raise ValueError(f"the passages of document {spans.doc_ids[d]!r} are not contiguous")
            seen.add(d)
    first[firsts], end[firsts] = starts, ends
    return Runs(spans.doc_ids, first, end)
