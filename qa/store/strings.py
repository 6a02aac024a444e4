"""A table of distinct strings kept as arrays (one UTF-8 blob, offsets, a sorted hash table), found by value.

Loaded from an index it is memory-mapped, so every process serving the index shares one copy: a million BM25 terms
take about 130 MB as a Python list and dict in each worker, and 35 MB of mapped files here. Lookups hash the string
(BLAKE2b, 8 bytes), find the hash by binary search and compare the bytes, so a collision never confuses two strings.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import overload

import numpy as np
import numpy.typing as npt

from qa.store.mapping import mapped

PARTS = ("", "_at", "_hash", "_order")  # file suffixes: the blob, its offsets, the sorted hashes, ids in hash order
Ints = npt.NDArray[np.int64]


def _hashes(encoded: Sequence[bytes]) -> npt.NDArray[np.uint64]:
    """The 8-byte BLAKE2b hash of each string's bytes, as unsigned integers."""
    digests = b"".join(hashlib.blake2b(b, digest_size=8).digest() for b in encoded)
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def _hash(raw: bytes) -> np.uint64:
    """:func:`_hashes` of one string's bytes (a lookup's: a quarter of the time)."""
    return np.uint64(int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little"))


class Strings(Sequence[str]):
    """String ``i`` is ``blob[at[i]:at[i + 1]]``; ``hashes`` ascending, ``order[j]`` the string hashed ``hashes[j]``."""

    __slots__ = ("at", "blob", "hashes", "order")

    def __init__(self, at: Ints, blob: npt.NDArray[np.uint8], hashes: npt.NDArray[np.uint64], order: Ints) -> None:
        if not len(at) - 1 == len(hashes) == len(order) or (len(at) and int(at[-1]) != len(blob)):
            raise ValueError("string table arrays are inconsistent")
        self.at, self.blob, self.hashes, self.order = at, blob, hashes, order

    @classmethod
    def of(cls, items: Iterable[str]) -> Strings:
        """A table of the given strings, in order; ValueError when one occurs twice."""
        encoded = [s.encode() for s in items]
        at = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=at[1:])
        hashes = _hashes(encoded)
        order = np.argsort(hashes, kind="stable").astype(np.int64)
        sorted_hashes = hashes[order]
        same = np.flatnonzero(sorted_hashes[1:] == sorted_hashes[:-1])
        seen: dict[int, set[bytes]] = {}
        for j in sorted({*same.tolist(), *(same + 1).tolist()}):  # each string that shares its hash with another
            raw, group = encoded[int(order[j])], seen.setdefault(int(sorted_hashes[j]), set())
            if raw in group:
                raise ValueError(f"{raw.decode()!r} occurs twice in a string table")
            group.add(raw)
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return cls(at, blob, sorted_hashes, order)

    def __len__(self) -> int:
        return len(self.order)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(len(self))[i]]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._bytes(i).decode()

    def __iter__(self) -> Iterator[str]:
        data, at = self.blob.tobytes(), self.at.tolist()
        return (data[a:b].decode() for a, b in itertools.pairwise(at))

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and self.get(item) is not None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Strings):
            return np.array_equal(self.at, other.at) and np.array_equal(self.blob, other.blob)
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Strings({len(self)} strings, {len(self.blob)} bytes)"

    def _bytes(self, i: int) -> bytes:
        """String ``i``'s bytes, sliced from the mapping (small hot tables: no ``pread``, unlike a text blob's)."""
        return self.blob[int(self.at[i]) : int(self.at[i + 1])].tobytes()

    def get(self, item: str) -> int | None:
        """The place of ``item`` in the table, or None when it is not there."""
        if not len(self.order):
            return None
        raw = item.encode()
        h = _hash(raw)
        j = int(np.searchsorted(self.hashes, h))
        while j < len(self.hashes) and self.hashes[j] == h:
            i = int(self.order[j])
            if self._bytes(i) == raw:
                return i
            j += 1
        return None

    def places(self, items: Sequence[str]) -> Ints:
        """:meth:`get` of many strings at once (one binary search for all), -1 for those not in the table."""
        out = np.full(len(items), -1, dtype=np.int64)
        if not len(self.order) or not len(items):
            return out
        encoded = [item.encode() for item in items]
        wanted = np.fromiter((_hash(raw) for raw in encoded), dtype=np.uint64, count=len(encoded))
        at = np.searchsorted(self.hashes, wanted).tolist()
        for k, (j, raw) in enumerate(zip(at, encoded, strict=True)):
            while j < len(self.hashes) and self.hashes[j] == wanted[k]:
                if self._bytes(int(self.order[j])) == raw:
                    out[k] = self.order[j]
                    break
                j += 1
        return out

    def take(self, ids: Ints) -> Strings:
        """The strings at ``ids`` (distinct), in the order given, with no string decoded or hashed again."""
        ids = np.asarray(ids, dtype=np.int64)
        at = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(self.at[ids + 1] - self.at[ids], out=at[1:])
        blob = np.concatenate(
            [np.zeros(0, np.uint8)] + [self.blob[int(self.at[i]) : int(self.at[i + 1])] for i in ids.tolist()]
        )
        hash_of = np.empty(len(self), dtype=np.uint64)
        hash_of[self.order] = self.hashes
        hashes = hash_of[ids]
        order = np.argsort(hashes, kind="stable").astype(np.int64)
        return Strings(at, blob.astype(np.uint8), hashes[order], order)

    def save(self, folder: Path, name: str) -> None:
        """Write the table as four .npy files named ``name`` plus each of ``PARTS``."""
        for suffix, array in zip(PARTS, (self.blob, self.at, self.hashes, self.order), strict=True):
            with (folder / f"{name}{suffix}.npy").open("wb") as fh:
                np.save(fh, np.asarray(array), allow_pickle=False)

    @staticmethod
    def files(name: str) -> tuple[str, ...]:
        """The names of the files :meth:`save` writes for ``name``."""
        return tuple(f"{name}{suffix}.npy" for suffix in PARTS)

    @classmethod
    def load(cls, folder: Path, name: str) -> Strings:
        """A table written by :meth:`save`, every array memory-mapped."""
        blob, at, hashes, order = (mapped(folder / f) for f in cls.files(name))
        return cls(at, blob, hashes, order)
