"""The few facts per document that filters and the recency preference read, coded into small arrays once.

A filter (ids, author, outlet, date bounds) and the recency boost need five fields of every document; reading and
decoding each document per request costs seconds at a million passages. ``Facts`` keeps each distinct casefolded
author and outlet and each distinct date (its first 10 characters) once, and one small integer per document, so a
filter tests every distinct value once and selects the documents with numpy indexing. Answers are exactly those of
``Filter.admits`` and of the day-based recency boost (tests/service/test_scope_facts.py holds the old code as oracle).
"""

from __future__ import annotations

import bisect
import datetime as dt
from array import array
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from qa.base.records import Document, Filter

Bools = npt.NDArray[np.bool_]
Codes = npt.NDArray[np.int32]
NO_DAY = np.iinfo(np.int64).min


class Described(Protocol):
    """What a document says of itself that filters and recency read (a ``Document``, or a line's head)."""

    @property
    def id(self) -> str: ...
    @property
    def author(self) -> str | None: ...
    @property
    def source(self) -> str | None: ...
    @property
    def date(self) -> str | None: ...
    @property
    def duplicate_of(self) -> str | None: ...


class FactsBuilder:
    """Collects documents' facts a batch at a time (reading a file once), coding each value as it comes."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._author, self._source, self._date, self._duplicate = array("i"), array("i"), array("i"), array("b")
        self._authors: dict[str | None, int] = {}  # as written; casefolded once each when built
        self._sources: dict[str | None, int] = {}
        self._dates: dict[str, int] = {}  # first 10 characters -> code in order first seen

    def extend(self, docs: Sequence[Described]) -> None:
        """Some documents' facts, in document order."""
        authors, sources, dates = self._authors, self._sources, self._dates
        self.ids += [d.id for d in docs]
        self._author.extend([authors.setdefault(d.author, len(authors)) for d in docs])
        self._source.extend([sources.setdefault(d.source, len(sources)) for d in docs])
        self._date.extend([-1 if d.date is None else dates.setdefault(d.date[:10], len(dates)) for d in docs])
        self._duplicate.extend([d.duplicate_of is not None for d in docs])

    def build(self, position: Mapping[str, int] | None = None) -> Facts:
        """The facts; ``position`` maps each id to its place in ``ids`` when the caller already holds one."""
        dates = sorted(self._dates)
        rank = np.zeros(len(dates) + 1, dtype=np.int32)  # first-seen code -> sorted code; -1 (undated) stays -1
        rank[[self._dates[d] for d in dates]] = np.arange(len(dates), dtype=np.int32)
        rank[-1] = -1
        authors, author = _folded(self._authors, self._author)
        sources, source = _folded(self._sources, self._source)
        return Facts(
            ids=self.ids,
            position=position if position is not None else {d: i for i, d in enumerate(self.ids)},
            authors=authors,
            author=author,
            sources=sources,
            source=source,
            dates=dates,
            date=rank[np.frombuffer(self._date, dtype=np.int32)],
            duplicate=np.frombuffer(self._duplicate, dtype=np.int8).astype(np.bool_),
        )


def _folded(written: dict[str | None, int], codes: array[int]) -> tuple[list[str], Codes]:
    """Distinct values casefolded (None as ""), and the codes re-pointed at them."""
    folded: dict[str, int] = {}
    table = np.array([folded.setdefault((v or "").casefold(), len(folded)) for v in written], dtype=np.int32)
    return list(folded), table[np.frombuffer(codes, dtype=np.int32)] if len(table) else np.zeros(0, np.int32)


class Facts:
    """Per document (in ``ids`` order): coded casefolded author and outlet, coded date prefix, copy or not.

    ``dates`` is sorted, so a date code compares as its text does; -1 is no date. ``day`` is each document's date
    as a day number (``date.toordinal``), ``NO_DAY`` when it has none or it is not a calendar date.
    """

    def __init__(
        self,
        *,
        ids: list[str],
        position: Mapping[str, int],
        authors: list[str],
        author: Codes,
        sources: list[str],
        source: Codes,
        dates: list[str],
        date: Codes,
        duplicate: Bools,
    ) -> None:
        self.ids, self.position, self.duplicate = ids, position, duplicate
        self.authors, self.author, self.sources, self.source = authors, author, sources, source
        self.dates, self.date = dates, date
        days = np.array([_ordinal(d) for d in dates] + [NO_DAY], dtype=np.int64)
        self.day = days[date]
        known = self.day[self.day != NO_DAY]
        self.newest = int(known.max()) if len(known) else None

    @classmethod
    def of(cls, documents: Iterable[Document]) -> Facts:
        """The facts of documents held in memory."""
        builder = FactsBuilder()
        builder.extend(list(documents))
        return builder.build()

    def __len__(self) -> int:
        return len(self.ids)

    def admits(self, where: Filter) -> Bools:
        """Per document, whether ``where`` admits it; copies never are (their originals are)."""
        ok = ~self.duplicate
        if where.doc_ids is not None:
            named = np.zeros(len(self.ids), dtype=np.bool_)
            named[[self.position[d] for d in where.doc_ids if d in self.position]] = True
            ok &= named
        if where.author is not None:
            ok &= _containing(self.authors, where.author.casefold().strip())[self.author]
        if where.source is not None:
            ok &= _containing(self.sources, where.source.casefold().strip())[self.source]
        if where.after is not None:
            ok &= self.date >= bisect.bisect_left(self.dates, where.after)
        if where.before is not None:
            ok &= (self.date >= 0) & (self.date < bisect.bisect_right(self.dates, where.before))
        return ok

    def boost(self, weight: float, half_life: float) -> Boost:
        """The recency multiplier of every dated document (see ``Boost``)."""
        return Boost(self, weight, half_life)


class Boost(Mapping[str, float]):
    """Per dated document ``1 + weight * 0.5 ** (days older than the newest / half_life)``, computed when asked."""

    def __init__(self, facts: Facts, weight: float, half_life: float) -> None:
        self._facts, self._weight, self._half_life = facts, weight, half_life

    def __getitem__(self, doc_id: str) -> float:
        day = int(self._facts.day[self._facts.position[doc_id]])
        if day == NO_DAY or self._facts.newest is None:
            raise KeyError(doc_id)
        halved: float = 0.5 ** ((self._facts.newest - day) / self._half_life)
        return 1.0 + self._weight * halved

    def __iter__(self) -> Iterator[str]:
        ids = self._facts.ids
        return (ids[i] for i in np.flatnonzero(self._facts.day != NO_DAY).tolist())

    def __len__(self) -> int:
        return int(np.count_nonzero(self._facts.day != NO_DAY))


def _containing(values: list[str], needle: str) -> Bools:
    """Per distinct value, whether it contains ``needle``; one extra False at the end for code -1."""
    return np.array([needle in v for v in values] + [False], dtype=np.bool_)


def _ordinal(value: str) -> int:
    """A date's first 10 characters as a day number, or ``NO_DAY`` when they are not a calendar date."""
    try:
        return dt.date.fromisoformat(value).toordinal() if value else NO_DAY
    except ValueError:
        return NO_DAY


def laid_over(base: Facts, hidden: Collection[str], added: Sequence[Described]) -> Facts:
    """The facts of ``base``'s documents less ``hidden``, then ``added`` (as ``Facts.of`` of them all, without
    reading the base's documents again): the kept codes re-pointed at the union of distinct values."""
    keep = np.ones(len(base), dtype=np.bool_)
    keep[[base.position[d] for d in hidden if d in base.position]] = False
    builder = FactsBuilder()
    builder.extend(added)
    top = builder.build()
    authors, author = _merged(base.authors, base.author[keep], top.authors, top.author)
    sources, source = _merged(base.sources, base.source[keep], top.sources, top.source)
    dates = sorted({*base.dates, *top.dates})
    rank = {d: i for i, d in enumerate(dates)}
    date = [
        np.array([*(rank[d] for d in facts.dates), -1], dtype=np.int32)[codes]
        for facts, codes in ((base, base.date[keep]), (top, top.date))
    ]
    ids = [base.ids[i] for i in np.flatnonzero(keep).tolist()] + top.ids
    return Facts(
        ids=ids,
        position={d: i for i, d in enumerate(ids)},
        authors=authors,
        author=author,
        sources=sources,
        source=source,
        dates=dates,
        date=np.concatenate(date),
        duplicate=np.concatenate([base.duplicate[keep], top.duplicate]),
    )


def _merged(first: list[str], first_codes: Codes, second: list[str], second_codes: Codes) -> tuple[list[str], Codes]:
    """Two sets of distinct values made one (``first``'s codes kept), and both sets of codes in it, concatenated."""
    values = list(first)
    code = {v: i for i, v in enumerate(values)}
    for v in second:
        if v not in code:
            code[v] = len(values)
            values.append(v)
    table = np.array([code[v] for v in second], dtype=np.int32)
    return values, np.concatenate([first_codes, table[second_codes]]).astype(np.int32)
