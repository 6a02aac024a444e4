"""The documents of a generation after writes: the snapshot's documents with the written ones laid over them.

A write used to copy every document into a new dict (decoding all of them from the snapshot's file). A
``Layered`` mapping instead keeps the base mapping (the snapshot's ``DocumentFile``) and only what the writes since
changed: documents put (``overlay``) and base documents hidden (removed or replaced). Iteration runs as a dict
rebuilt on each write would: the base's documents not hidden, in the base's order, then the written ones in the
order they were last written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from qa.base.records import Document
from qa.store.document_file import DocumentFile
from qa.store.facts import Facts, laid_over


class Layered(Mapping[str, Document]):
    """Documents by id: ``overlay`` first, then ``base`` unless the id is ``hidden``; never changed once made."""

    def __init__(self, base: Mapping[str, Document], overlay: dict[str, Document], hidden: frozenset[str]) -> None:
        self.base, self.overlay, self.hidden = base, overlay, hidden

    @classmethod
    def written(cls, documents: Mapping[str, Document], removed: Iterable[str], put: Iterable[Document]) -> Layered:
        """``documents`` with some removed and some put (a put document moves to the end of the order)."""
        base, overlay, hidden = (
            (documents.base, dict(documents.overlay), set(documents.hidden))
            if isinstance(documents, Layered)
            else (documents, {}, set())
        )
        put = list(put)
        for doc_id in [*removed, *(d.id for d in put)]:
            overlay.pop(doc_id, None)
            if doc_id in base:
                hidden.add(doc_id)
        overlay.update({d.id: d for d in put})
        return cls(base, overlay, frozenset(hidden))

    def __getitem__(self, doc_id: str) -> Document:
        found = self.overlay.get(doc_id)
        if found is not None:
            return found
        if doc_id in self.hidden:
            raise KeyError(doc_id)
        return self.base[doc_id]

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.overlay or (doc_id not in self.hidden and doc_id in self.base)

    def __iter__(self) -> Iterator[str]:
        hidden = self.hidden
        yield from (doc_id for doc_id in self.base if doc_id not in hidden)
        yield from self.overlay

    def __len__(self) -> int:
        return len(self.base) - len(self.hidden) + len(self.overlay)

    @property
    def facts(self) -> Facts:
        """What filters and recency read of every document: the base's (from its file's heads) with the writes."""
        base = self.base.facts if isinstance(self.base, DocumentFile) else Facts.of(self.base.values())
        return laid_over(base, self.hidden, list(self.overlay.values()))

    @property
    def duplicates(self) -> dict[str, str]:
        """Each copy's original, reading only the copies (and the written documents)."""
        return {**_duplicates(self.base, self.hidden), **copies_in(self.overlay.values())}


def duplicates_of(documents: Mapping[str, Document]) -> dict[str, str]:
    """Each copy's original: read from the file's heads or the layers where it can be, else from every document."""
    if isinstance(documents, (Layered, DocumentFile)):
        return documents.duplicates
    return copies_in(documents.values())


def _duplicates(base: Mapping[str, Document], hidden: frozenset[str]) -> dict[str, str]:
    """The base's copies not hidden."""
    return {k: v for k, v in duplicates_of(base).items() if k not in hidden}


def copies_in(docs: Iterable[Document]) -> dict[str, str]:
    """Each copy among some documents, with its original."""
    return {d.id: d.duplicate_of for d in docs if d.duplicate_of is not None}
