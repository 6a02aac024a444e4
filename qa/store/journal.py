"""The write-ahead log: each write is one framed, checksummed entry, appended and fsynced before it is acknowledged.

A frame is ``QAJ1``, the payload's length and CRC-32 (4 bytes each, little-endian), then the payload (MessagePack).
A crash can leave only a torn last frame, which was never acknowledged: reading stops before it, and the next
writer cuts it off. An entry is applied whole or not at all, so a batch is one entry.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import msgspec

from qa.base.files import fsync_dir
from qa.base.records import Document, Passage

MAGIC = b"QAJ1"
HEADER = struct.Struct("<4sII")


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One acknowledged write: documents removed (or replaced) and documents put, with their passages embedded.

    ``vectors`` and ``sentence_vectors`` are float32 rows (row-major bytes) for ``passages`` and ``sentences``.
    """

    seq: int
    at: str
    removed: list[str] = []
    documents: list[Document] = []
    passages: list[Passage] = []
    vectors: bytes = b""
    sentences: list[Passage] = []
    sentence_vectors: bytes = b""


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Entry)


def frame(entry: Entry) -> bytes:
    """The bytes appended for an entry."""
    payload = _encoder.encode(entry)
    return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def read(path: Path, offset: int = 0) -> tuple[list[Entry], int]:
    """The whole entries from ``offset`` on and the offset just after the last of them (a torn tail is left out)."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    entries, at = [], 0
    while at + HEADER.size <= len(data):
        magic, length, crc = HEADER.unpack_from(data, at)
        payload = data[at + HEADER.size : at + HEADER.size + length]
        if magic != MAGIC or len(payload) < length or zlib.crc32(payload) != crc:
            break
        try:
            entries.append(_decoder.decode(payload))
        except msgspec.DecodeError:
            break
        at += HEADER.size + length
    return entries, offset + at


def append(path: Path, entry: Entry, valid_end: int) -> int:
    """Cut the log to ``valid_end`` (dropping any torn tail), append the entry, fsync; the new end of the log."""
    data = frame(entry)
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, valid_end)
        os.lseek(fd, valid_end, os.SEEK_SET)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)
    return valid_end + len(data)
