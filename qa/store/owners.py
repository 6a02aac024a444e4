"""Which part of an index holds each live document's rows, read from the parts' document tables.

May import nothing of ``qa`` (the store's index and sentence table use it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping


class Owners(Mapping[str, int]):
    """Which part holds each live document's rows: 1 the recent part, else 0 the base (unless replaced or gone).

    Read from the parts' document tables at each lookup, so a generation holds no dict of every document.
    """

    __slots__ = ("base", "dead", "recent")

    def __init__(self, base: Mapping[str, object], recent: Mapping[str, object], dead: frozenset[str]) -> None:
        self.base, self.recent, self.dead = base, recent, dead

    def __getitem__(self, doc_id: str) -> int:
        if doc_id in self.recent:
            return 1
        if doc_id in self.base and doc_id not in self.dead:
            return 0
        raise KeyError(doc_id)

    def __iter__(self) -> Iterator[str]:
        yield from (d for d in self.base if d not in self.dead and d not in self.recent)
        yield from self.recent

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @property
    def settled(self) -> bool:
        """True when no document has moved: nothing in the recent part, nothing of the base replaced or gone (each
        base document is then live in the base, and no other)."""
        return not self.recent and not self.dead

    def others(self, i: int, documents: Collection[str]) -> list[str]:
        """Of ``documents`` (those with rows in part ``i``: 0 the base, 1 the recent), the ones whose live rows are
        elsewhere or gone. In the base only documents replaced, removed or written again can be, so a base's
        documents are not all read (a million of them would take seconds at each write)."""
        maybe = (*self.dead, *self.recent) if i == 0 else documents
        return [d for d in maybe if d in documents and self.get(d) != i]
