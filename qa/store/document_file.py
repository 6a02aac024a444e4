"""An index's documents read from their JSON Lines file when asked for, not held in memory.

Opening reads each line's id and copy link once (in blocks, nothing mapped); a document is then read with one
``pread`` at its offset and decoded. The file is written once and never rewritten (snapshot files are new names),
so the offsets stay valid for as long as the file is open, even after a newer snapshot unlinks it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path

import msgspec

from qa.base.records import Document

BLOCK = 1 << 24
DECODED = 128  # documents kept decoded: one answer reads each of its hits' documents several times


class _Head(msgspec.Struct):
    """The fields of a document line read when opening."""

    id: str
    duplicate_of: str | None = None


class DocumentFile(Mapping[str, Document]):
    """Documents by id, each read from ``path`` on access; ``duplicates`` maps copies to their originals."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._at: dict[str, tuple[int, int]] = {}
        self.duplicates: dict[str, str] = {}
        self._decoded = _reader(self._fd, self._at)
        decode = msgspec.json.Decoder(_Head).decode
        offset, rest = 0, b""
        with open(path, "rb") as fh:
            while block := fh.read(BLOCK):
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    self._note(decode(line), offset, len(line))
                    offset += len(line) + 1
        if rest.strip():
            self._note(decode(rest), offset, len(rest))

    def _note(self, head: _Head, offset: int, length: int) -> None:
        """Remember where one document's line is."""
        if head.id in self._at:
            raise ValueError(f"document {head.id!r} appears twice")
        self._at[head.id] = (offset, length)
        if head.duplicate_of is not None:
            self.duplicates[head.id] = head.duplicate_of

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


def _reader(fd: int, at: dict[str, tuple[int, int]]) -> Callable[[str], Document]:
    """Documents by id decoded from their lines, the last ``DECODED`` kept (frozen, so shared); it holds no
    reference to the file object, whose descriptor then closes as soon as the object is unreachable."""

    @lru_cache(maxsize=DECODED)
    def read(doc_id: str) -> Document:
        offset, length = at[doc_id]
        return msgspec.json.decode(os.pread(fd, length, offset), type=Document)

    return read
