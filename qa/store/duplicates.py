"""Near-duplicate articles (one wire story republished by several outlets): word shingles, MinHash, then exact Jaccard.

A candidate found by MinHash is confirmed by the exact Jaccard similarity of the two articles' shingle sets,
so a grouping is never a hash accident. Shingles are five consecutive terms of the text (text analysis in
``qa.base.terms``), hashed with CRC-32 so signatures are the same in every process.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from qa.base.terms import terms

SHINGLE = 5
PERMUTATIONS = 64
PRIME = (1 << 61) - 1
_rng = np.random.default_rng(20240601)
_A = _rng.integers(1, PRIME, PERMUTATIONS, dtype=np.uint64)
_B = _rng.integers(0, PRIME, PERMUTATIONS, dtype=np.uint64)
Signature = npt.NDArray[np.uint64]


def shingles(text: str) -> frozenset[int]:
    """The hashed five-term shingles of a text (the terms themselves for very short texts)."""
    words = terms(text)
    grams = [" ".join(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))]
    return frozenset(zlib.crc32(g.encode()) for g in grams if g)


def signature(found: frozenset[int]) -> Signature:
    """The MinHash signature of a shingle set."""
    if not found:
        return np.full(PERMUTATIONS, np.iinfo(np.uint64).max, dtype=np.uint64)
    x = np.fromiter(found, dtype=np.uint64, count=len(found))
    hashed = (np.multiply.outer(_A, x) + _B[:, None]) % PRIME
    out: Signature = hashed.min(axis=1)
    return out


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    """Exact Jaccard similarity of two shingle sets."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass
class Groups:
    """Articles whose copies are grouped under them, findable by a new article's text."""

    threshold: float
    _ids: list[str] = field(default_factory=list)
    _sets: list[frozenset[int]] = field(default_factory=list)
    _signatures: list[Signature] = field(default_factory=list)

    @classmethod
    def of(cls, texts: Iterable[tuple[str, str]], threshold: float) -> Groups:
        """Groups over (id, text) pairs of the articles that are indexed."""
        groups = cls(threshold)
        for doc_id, text in texts:
            groups.add(doc_id, text)
        return groups

    def add(self, doc_id: str, text: str) -> None:
        """Make an article findable as the original of later copies."""
        found = shingles(text)
        self._ids.append(doc_id)
        self._sets.append(found)
        self._signatures.append(signature(found))

    def discard(self, doc_id: str) -> None:
        """Stop finding an article."""
        if doc_id in self._ids:
            i = self._ids.index(doc_id)
            del self._ids[i], self._sets[i], self._signatures[i]

    def original_of(self, text: str) -> str | None:
        """The indexed article this text is a copy of (Jaccard at least ``threshold``), or None."""
        if not self._ids or self.threshold <= 0:
            return None
        found = shingles(text)
        estimates = (np.vstack(self._signatures) == signature(found)).mean(axis=1)
        for i in np.argsort(-estimates, kind="stable")[:5]:
            if estimates[i] < self.threshold - 0.15:
                break
            if jaccard(found, self._sets[i]) >= self.threshold:
                return self._ids[int(i)]
        return None
