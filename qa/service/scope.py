"""What a question may draw on and how it leans: document filters, the recency preference, copies of cited articles."""

from __future__ import annotations

import datetime as dt

import msgspec

from qa.base.records import Citation, Copy, Filter
from qa.base.settings import SearchSettings
from qa.store.index import Index, Mask


def admitted(index: Index, where: Filter | None) -> Mask | None:
    """The rows of the documents the filter admits (None: no filter, every row)."""
    if where is None:
        return None
    return index.allowed([d.id for d in index.documents.values() if d.duplicate_of is None and where.admits(d)])


def freshness(index: Index, settings: SearchSettings) -> dict[str, float]:
    """A score multiplier per dated document: 1 + weight, halving its excess every half-life older than the newest.

    Ages count from the newest article in the archive, not from today, so the same archive ranks the same way
    on any day; undated articles get no boost.
    """
    dates = {d.id: _day(d.date) for d in index.documents.values()}
    known = [day for day in dates.values() if day is not None]
    if not known:
        return {}
    newest = max(known)
    return {
        doc_id: 1.0 + settings.recency_weight * 0.5 ** ((newest - day).days / settings.recency_half_life_days)
        for doc_id, day in dates.items()
        if day is not None
    }


def _day(value: str | None) -> dt.date | None:
    """A document's date as a calendar day, or None when it has none or it cannot be read."""
    try:
        return dt.date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def with_copies(citations: tuple[Citation, ...], index: Index) -> tuple[Citation, ...]:
    """Each citation with the other outlets' copies of its article that carry the quoted text, and where."""
    out = []
    for citation in citations:
        copies = []
        for doc in index.copies.get(citation.doc_id, ()):
            start = doc.text.find(citation.quote)
            if start >= 0:
                copies.append(
                    Copy(
                        doc_id=doc.id,
                        title=doc.title,
                        source=doc.source,
                        url=doc.url,
                        start=start,
                        end=start + len(citation.quote),
                    )
                )
        out.append(msgspec.structs.replace(citation, copies=tuple(copies)) if copies else citation)
    return tuple(out)
