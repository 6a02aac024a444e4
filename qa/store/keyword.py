"""BM25 keyword search over stemmed, stopword-free terms: postings per part, scored with the live rows' statistics.

Each part of an index keeps term postings (which rows hold a term, how often) and row lengths; nothing in them
depends on the rest of the archive. Scores are computed at query time from the statistics of the rows that are
live now (their count, mean length and each term's document frequency), so a deleted passage is forgotten
exactly: the scores equal those of an index built from the remaining passages alone (Lucene's BM25 variant,
the one bm25s computes by default).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt

from qa.base.terms import terms
from qa.store.mapping import mapped, read_slice
from qa.store.strings import Strings

Rows = npt.NDArray[np.int64]
ARRAYS = ("indptr", "rows", "tfs", "lengths")
VOCAB = "vocab"  # the terms' string table (qa.store.strings); an older index has vocab.json instead
TABLES = ("indptr.npy", "lengths.npy", *Strings.files(VOCAB))  # small beside the posting lists (rows, tfs)
BUILD_BLOCK = 65536  # rows counted at a time while building


@dataclass(frozen=True)
class Postings:
    """Term postings of some rows: for term ``vocab[t]``, rows ``rows[indptr[t]:indptr[t+1]]`` hold it ``tfs`` times."""

    vocab: Strings
    indptr: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int32]
    tfs: npt.NDArray[np.float32]
    lengths: npt.NDArray[np.float32]

    @classmethod
    def build(cls, texts: Sequence[str]) -> Postings:
        """The postings of the texts (row i is text i).

        Python only maps each term to its id (in order of first occurrence); counting a term in a row and sorting
        the entries is numpy's, a block of rows at a time.
        """
        vocab: dict[str, int] = {}
        lengths = np.zeros(len(texts), dtype=np.float32)
        blocks: list[tuple[Rows, npt.NDArray[np.int32], npt.NDArray[np.float32]]] = []
        for lo in range(0, len(texts), BUILD_BLOCK):
            hi = min(len(texts), lo + BUILD_BLOCK)
            ids: list[int] = []
            for row in range(lo, hi):
                found = terms(texts[row])
                lengths[row] = len(found)
                ids += [vocab.setdefault(term, len(vocab)) for term in found]
            rows = np.repeat(np.arange(hi - lo, dtype=np.int64), lengths[lo:hi].astype(np.int64))
            keys, counts = np.unique(np.asarray(ids, dtype=np.int64) * (hi - lo) + rows, return_counts=True)
            blocks.append((keys // (hi - lo), (keys % (hi - lo) + lo).astype(np.int32), counts.astype(np.float32)))
        if not blocks:
            blocks.append((np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32)))
        return cls._from_entries(
            Strings.of(vocab),
            np.concatenate([b[0] for b in blocks]),
            np.concatenate([b[1] for b in blocks]),
            np.concatenate([b[2] for b in blocks]),
            lengths,
        )

    @property
    def size(self) -> int:
        """Number of rows."""
        return len(self.lengths)

    @classmethod
    def _from_entries(
        cls,
        vocab: Strings,
        ids: npt.NDArray[np.int64],
        rows: npt.NDArray[np.int32],
        tfs: npt.NDArray[np.float32],
        lengths: npt.NDArray[np.float32],
    ) -> Postings:
        """Postings from unordered (term id, row, count) entries."""
        order = np.lexsort((rows, ids))
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(ids, minlength=len(vocab)), out=indptr[1:])
        return cls(vocab, indptr, rows[order].astype(np.int32), tfs[order].astype(np.float32), lengths)

    def _entries(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """Every (term id, row, count) entry."""
        ids = np.repeat(np.arange(len(self.vocab), dtype=np.int64), np.diff(self.indptr))
        return ids, self.rows, self.tfs

    def select(self, keep: npt.NDArray[np.int64]) -> Postings:
        """The postings of some rows only, renumbered in the order given (ascending)."""
        new_row = np.full(self.size, -1, dtype=np.int64)
        new_row[keep] = np.arange(len(keep))
        ids, rows, tfs = self._entries()
        kept = new_row[rows] >= 0
        used = np.unique(ids[kept])
        remap = np.full(len(self.vocab), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        return Postings._from_entries(
            self.vocab.take(used), remap[ids[kept]], new_row[rows[kept]].astype(np.int32), tfs[kept], self.lengths[keep]
        )

    @staticmethod
    def join(parts: Sequence[Postings]) -> Postings:
        """One set of postings over the rows of several, in order."""
        vocab: dict[str, int] = {}
        all_ids, all_rows, all_tfs, offset = [], [], [], 0
        for part in parts:
            remap = np.asarray([vocab.setdefault(w, len(vocab)) for w in part.vocab], dtype=np.int64)
            ids, rows, tfs = part._entries()
            all_ids.append(remap[ids] if len(ids) else ids)
            all_rows.append(rows.astype(np.int32) + offset)
            all_tfs.append(tfs)
            offset += part.size
        lengths = np.concatenate([p.lengths for p in parts]) if parts else np.zeros(0, np.float32)
        if not parts:
            return Postings.build([])
        return Postings._from_entries(
            Strings.of(vocab), np.concatenate(all_ids), np.concatenate(all_rows), np.concatenate(all_tfs), lengths
        )

    def term(self, term: str) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """The rows holding ``term`` and how often each holds it."""
        t = self.vocab.get(term)
        if t is None:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        lo, hi = int(self.indptr[t]), int(self.indptr[t + 1])
        return read_slice(self.rows, lo, hi), read_slice(self.tfs, lo, hi)

    def count(self, term: str) -> int:
        """How many rows hold ``term`` (its posting list's length, read from ``indptr`` alone)."""
        t = self.vocab.get(term)
        return 0 if t is None else int(self.indptr[t + 1]) - int(self.indptr[t])

    def save(self, folder: Path) -> None:
        """Write the postings into ``folder``: the terms' string table and one .npy file per array (mapped on load)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.vocab.save(folder, VOCAB)
        for name in ARRAYS:
            with (folder / f"{name}.npy").open("wb") as fh:
                np.save(fh, getattr(self, name), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> Postings:
        """Postings written by :meth:`save`, memory-mapped (an older index's vocab.json and .npz are read whole)."""
        if (folder / "vocab.json").is_file():
            vocab = Strings.of(msgspec.json.decode((folder / "vocab.json").read_bytes(), type=list[str]))
        else:
            vocab = Strings.load(folder, VOCAB)
        if (folder / "postings.npz").is_file():
            with np.load(folder / "postings.npz", allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in ARRAYS}
        else:
            arrays = {name: mapped(folder / f"{name}.npy") for name in ARRAYS}
        out = cls(vocab, **arrays)
        if len(out.indptr) != len(vocab) + 1 or not len(out.rows) == len(out.tfs) == int(out.indptr[-1]):
            raise ValueError("keyword postings are inconsistent")
        return out


@dataclass(frozen=True)
class KeywordIndex:
    """BM25 over the live rows of some parts; row numbers run through the parts in order."""

    parts: tuple[Postings, ...]
    live: npt.NDArray[np.bool_] | None = None
    k1: float = 1.2
    b: float = 0.75
    _offsets: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _count: int = field(init=False, repr=False, compare=False)
    _mean_length: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        offsets, total = [], 0
        for part in self.parts:
            offsets.append(total)
            total += part.size
        lengths = np.concatenate([p.lengths for p in self.parts]) if self.parts else np.zeros(0, np.float32)
        if self.live is not None:
            if len(self.live) != total:
                raise ValueError(f"{len(self.live)} live flags for {total} keyword rows")
            lengths = lengths[self.live]
        object.__setattr__(self, "_offsets", tuple(offsets))
        object.__setattr__(self, "_count", len(lengths))
        object.__setattr__(self, "_mean_length", float(lengths.mean()) if len(lengths) else 1.0)

    @classmethod
    def build(cls, texts: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> KeywordIndex:
        """Index the texts (one row each) as a single part."""
        return cls((Postings.build(texts),), k1=k1, b=b)

    @property
    def size(self) -> int:
        """Number of rows, live or not."""
        return sum(p.size for p in self.parts)

    def _postings(self, term: str) -> tuple[Rows, npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Live rows holding ``term``, its count in each, and each row's length."""
        rows: list[Rows] = []
        tfs: list[npt.NDArray[np.float32]] = []
        lengths: list[npt.NDArray[np.float32]] = []
        for offset, part in zip(self._offsets, self.parts, strict=True):
            local, tf = part.term(term)
            if len(local):
                rows.append(local.astype(np.int64) + offset)
                tfs.append(tf)
                lengths.append(part.lengths[local])
        if len(rows) == 1:  # no copies when one part holds the term (an index that has seen no write)
            all_rows, all_tfs, all_lengths = rows[0], tfs[0], lengths[0]
        elif not rows:
            all_rows, all_tfs, all_lengths = np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32)
        else:
            all_rows, all_tfs, all_lengths = np.concatenate(rows), np.concatenate(tfs), np.concatenate(lengths)
        if self.live is not None and len(all_rows):
            keep = self.live[all_rows]
            return all_rows[keep], all_tfs[keep], all_lengths[keep]
        return all_rows, all_tfs, all_lengths

    def _df(self, term: str) -> int:
        """How many live rows hold ``term``: posting lengths alone when every row is live, else the live postings."""
        if self.live is None:
            return sum(part.count(term) for part in self.parts)
        return len(self._postings(term)[0])

    def _idf(self, df: int) -> float:
        """Lucene's BM25 inverse document frequency over the live rows."""
        return float(np.log(1.0 + (self._count - df + 0.5) / (df + 0.5)))

    def scores(self, query: str) -> npt.NDArray[np.float32]:
        """BM25 score of every row for the query (0 for rows not live and when no query term is known)."""
        return self.scored(query)[0]

    def scored(self, query: str) -> tuple[npt.NDArray[np.float32], list[Rows]]:
        """:meth:`scores`, and the live rows holding each known query term: every row of positive score is in one."""
        out = np.zeros(self.size, dtype=np.float32)
        found: list[Rows] = []
        norm = self.k1 * (1.0 - self.b)
        for term, times in Counter(terms(query)).items():
            rows, tfs, lengths = self._postings(term)
            if not len(rows):
                continue
            tfc = tfs / (norm + self.k1 * self.b * lengths / self._mean_length + tfs)
            out[rows] += (times * self._idf(len(rows)) * tfc).astype(np.float32)
            found.append(rows)
        return out, found

    def known_fraction(self, query: str) -> float:
        """Share of the query's terms that occur in some live row."""
        query_terms = terms(query)
        if not query_terms:
            return 0.0
        return sum(self._df(t) > 0 for t in query_terms) / len(query_terms)

    def idf(self, query_terms: list[str]) -> list[float]:
        """BM25 inverse document frequency of each term; a term no live row holds gets the highest."""
        return [self._idf(self._df(t)) for t in query_terms]
