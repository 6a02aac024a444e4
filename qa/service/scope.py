"""What a question may draw on and how it leans: document filters, the recency preference, copies of cited articles."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from qa.base.records import Citation, Copy, Filter
from qa.base.settings import SearchSettings
from qa.store.index import Index, Mask


def admitted(index: Index, where: Filter | None) -> Mask | None:
    """The rows of the documents the filter admits (None: no filter, every row); copies are never admitted."""
    if where is None:
        return None
    return index.rows_of(index.facts.admits(where))


def freshness(index: Index, settings: SearchSettings) -> Mapping[str, float]:
    """A score multiplier per dated document: 1 + weight, halving its excess every half-life older than the newest.

    Ages count from the newest article in the archive, not from today, so the same archive ranks the same way
    on any day; undated articles get no boost. Computed for the documents asked about only.
    """
    return index.facts.boost(settings.recency_weight, settings.recency_half_life_days)


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
