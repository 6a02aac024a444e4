"""An index's documents read from their JSON Lines file when asked for, not held in memory.

Opening reads each line's id, copy link, author, outlet and date once (in blocks, nothing mapped): the offsets, and
the facts filters and recency read (``qa/store/facts.py``); a document is then read with one ``pread`` at its
offset and decoded. The file is written once and never rewritten (snapshot files are new names),
so the offsets stay valid for as long as the file is open, even after a newer snapshot unlinks it.
"""

from __future__ import annotations

import itertools
import os
from array import array
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path

import msgspec

from qa.base.records import Document
from qa.store.facts import Facts, FactsBuilder

BLOCK = 1 << 24
DECODED = 128  # documents kept decoded: one answer reads each of its hits' documents several times


class _Head(msgspec.Struct):
    """The fields of a document line read when opening."""

    id: str
    duplicate_of: str | None = None
    author: str | None = None
    source: str | None = None
    date: str | None = None


class DocumentFile(Mapping[str, Document]):
    """Documents by id, each read from ``path`` on access; ``duplicates`` maps copies to their originals."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._at: dict[str, int] = {}  # id -> line number
        self._offset, self._length = array("q"), array("q")
        self._facts = FactsBuilder()
        self.duplicates: dict[str, str] = {}
        self._decoded = _reader(self._fd, self._at, self._offset, self._length)
        decode = msgspec.json.Decoder(_Head).decode
        offset, rest = 0, b""
        with open(path, "rb") as fh:
            while block := fh.read(BLOCK):
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                offset = self._note(lines, [decode(line) for line in lines], offset)
        if rest.strip():
            self._note([rest], [decode(rest)], offset)
        self.facts: Facts = self._facts.build(self._at)
        del self._facts

    def _note(self, lines: list[bytes], heads: list[_Head], offset: int) -> int:
        """Remember where some consecutive lines are, from ``offset``, and what they say; the offset after them."""
        first = len(self._offset)
        for at, head in enumerate(heads, first):
            if self._at.setdefault(head.id, at) != at:
                raise ValueError(f"document {head.id!r} appears twice")
        lengths = [len(line) for line in lines]
        starts = list(itertools.accumulate([n + 1 for n in lengths], initial=offset))
        self._offset.extend(starts[:-1])
        self._length.extend(lengths)
        self._facts.extend(heads)
        self.duplicates.update({h.id: h.duplicate_of for h in heads if h.duplicate_of is not None})
        return starts[-1]

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def __getitem__(self, doc_id: str) -> Document:
        return self._decoded(doc_id)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._at

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)


def _reader(fd: int, at: dict[str, int], offsets: array[int], lengths: array[int]) -> Callable[[str], Document]:
    """Documents by id decoded from their lines, the last ``DECODED`` kept (frozen, so shared); it holds no
    reference to the file object, whose descriptor then closes as soon as the object is unreachable."""

    @lru_cache(maxsize=DECODED)
    def read(doc_id: str) -> Document:
        line = at[doc_id]
        return msgspec.json.decode(os.pread(fd, lengths[line], offsets[line]), type=Document)

    return read
