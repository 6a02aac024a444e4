"""Near-duplicate articles (one wire story republished by several outlets): word shingles, MinHash, then exact Jaccard.

A candidate found by MinHash is confirmed by the exact Jaccard similarity of the two articles' shingle sets,
so a grouping is never a hash accident. Shingles are five consecutive terms of the text (text analysis in
``qa.base.terms``), hashed with CRC-32 so signatures are the same in every process.

Only the signatures are held (one row of ``PERMUTATIONS`` integers per findable article, the rows of a snapshot
memory-mapped from its file): a candidate's shingle set is computed from its text when it is checked, which
happens for the few best candidates only.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import numpy.typing as npt

from qa.base.terms import terms

SHINGLE = 5
PERMUTATIONS = 64
PRIME = (1 << 61) - 1
CANDIDATES = 5  # best MinHash estimates checked by exact Jaccard
MARGIN = 0.15  # candidates estimated this far below the threshold are not checked
_rng = np.random.default_rng(20240601)
_A = _rng.integers(1, PRIME, PERMUTATIONS, dtype=np.uint64)
_B = _rng.integers(0, PRIME, PERMUTATIONS, dtype=np.uint64)
Signature = npt.NDArray[np.uint64]
Signatures = npt.NDArray[np.uint64]  # one signature per row
TextOf = Callable[[str], str]


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


def signatures(texts: Iterable[str]) -> Signatures:
    """The signatures of some texts, one row each."""
    rows = [signature(shingles(text)) for text in texts]
    return np.vstack(rows) if rows else np.zeros((0, PERMUTATIONS), dtype=np.uint64)


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    """Exact Jaccard similarity of two shingle sets."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _no_text(doc_id: str) -> str:
    raise KeyError(doc_id)


class Groups:
    """Articles whose copies are grouped under them, findable by a new article's text.

    Rows are the findable articles in the order they became findable: ``base`` (given at construction, typically
    memory-mapped) first, then those added. A discarded article's row stays, marked dead, so the order of the
    others (which breaks ties between equal estimates) is kept. ``text_of`` gives a base article's text; the texts
    of added articles are kept by reference.
    """

    def __init__(
        self,
        threshold: float,
        ids: Sequence[str] = (),
        base: Signatures | None = None,
        text_of: TextOf = _no_text,
    ) -> None:
        self.threshold = threshold
        self.text_of = text_of
        self._base = base if base is not None else np.zeros((0, PERMUTATIONS), dtype=np.uint64)
        if len(ids) != len(self._base):
            raise ValueError(f"{len(ids)} ids for {len(self._base)} signatures")
        self._ids = list(ids)
        self._row = {doc_id: i for i, doc_id in enumerate(self._ids)}
        self._more = np.zeros((16, PERMUTATIONS), dtype=np.uint64)  # rows after the base, grown by doubling
        self._dead = np.zeros(len(self._ids) + len(self._more), dtype=np.bool_)
        self._texts: dict[str, str] = {}

    @classmethod
    def of(cls, texts: Iterable[tuple[str, str]], threshold: float) -> Groups:
        """Groups over (id, text) pairs of the articles that are indexed."""
        groups = cls(threshold)
        for doc_id, text in texts:
            groups.add(doc_id, text)
        return groups

    def add(self, doc_id: str, text: str) -> None:
        """Make an article findable as the original of later copies."""
        self.discard(doc_id)
        at = len(self._ids) - len(self._base)
        if at == len(self._more):
            self._more = np.concatenate([self._more, np.zeros_like(self._more)])
            self._dead = np.concatenate([self._dead, np.zeros(len(self._more) - at, dtype=np.bool_)])
        self._more[at] = signature(shingles(text))
        self._row[doc_id] = len(self._ids)
        self._ids.append(doc_id)
        self._texts[doc_id] = text

    def discard(self, doc_id: str) -> None:
        """Stop finding an article."""
        row = self._row.pop(doc_id, None)
        if row is not None:
            self._dead[row] = True
            self._texts.pop(doc_id, None)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._row

    def __len__(self) -> int:
        return len(self._row)

    def signatures_of(self, doc_ids: Sequence[str]) -> Signatures:
        """The signatures of some findable articles, one row each in order."""
        rows = np.array([self._row[d] for d in doc_ids], dtype=np.int64)
        out = np.zeros((len(rows), PERMUTATIONS), dtype=np.uint64)
        based = rows < len(self._base)
        out[based] = self._base[rows[based]]
        out[~based] = self._more[rows[~based] - len(self._base)]
        return out

    def original_of(self, text: str) -> str | None:
        """The indexed article this text is a copy of (Jaccard at least ``threshold``), or None."""
        if not self._row or self.threshold <= 0:
            return None
        found = shingles(text)
        wanted = signature(found)
        added = self._more[: len(self._ids) - len(self._base)]
        estimates = np.concatenate([(self._base == wanted).mean(axis=1), (added == wanted).mean(axis=1)])
        estimates[self._dead[: len(self._ids)]] = -1.0  # dead rows sort after every live one and stop the loop
        for i in np.argsort(-estimates, kind="stable")[:CANDIDATES]:
            if estimates[i] < self.threshold - MARGIN:
                break
            if jaccard(found, shingles(self._text(self._ids[int(i)]))) >= self.threshold:
                return self._ids[int(i)]
        return None

    def _text(self, doc_id: str) -> str:
        """A findable article's text."""
        held = self._texts.get(doc_id)
        return held if held is not None else self.text_of(doc_id)
