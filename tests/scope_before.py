"""Filters and recency as ``qa/service/scope.py`` computed them before the documents' facts (00d846a): walking and
decoding every document. The oracle of tests/service/test_scope_facts.py and the reference bench/filters.py times."""

from __future__ import annotations

import datetime as dt

import numpy as np

from qa.base.records import Filter
from qa.base.settings import SearchSettings
from qa.store.index import Index, Mask


def old_admitted(index: Index, where: Filter | None) -> Mask | None:
    """The rows of the documents a filter admits (originals only), or None without a filter."""
    if where is None:
        return None
    mask = np.zeros(index.size, dtype=np.bool_)
    for doc in index.documents.values():
        if doc.duplicate_of is None and where.admits(doc):
            rows = index.doc_rows(doc.id)
            mask[rows.start : rows.stop] = True
    return mask


def old_freshness(index: Index, search: SearchSettings) -> dict[str, float]:
    """Each dated document's recency boost."""
    dates = {d.id: old_day(d.date) for d in index.documents.values()}
    known = [day for day in dates.values() if day is not None]
    if not known:
        return {}
    newest = max(known)
    return {
        doc_id: 1.0 + search.recency_weight * 0.5 ** ((newest - day).days / search.recency_half_life_days)
        for doc_id, day in dates.items()
        if day is not None
    }


def old_day(value: str | None) -> dt.date | None:
    """The day an ISO date string starts with, or None."""
    try:
        return dt.date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None
