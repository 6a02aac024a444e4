"""What a write changes: which documents go, which come (grouped with their originals when copies), and what to report.

Planning runs under the index folder's lock against the newest generation, so its decisions (unchanged,
conflict, copy of which original) see every earlier write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from qa.base.errors import Conflict, InvalidInput, NotFound
from qa.base.records import Document
from qa.store.duplicates import Groups
from qa.store.index import Index

Status = Literal["added", "updated", "unchanged", "deleted"]


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a write did to one document: its id, status, passages now indexed, and the original it copies."""

    id: str
    status: Status
    passages: int
    duplicate_of: str | None = None


@dataclass
class Plan:
    """Documents to remove, documents to put (their final form) and the outcome per document asked about."""

    removed: list[str] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)


def copies_of(index: Index, doc_id: str) -> list[Document]:
    """The documents grouped under an original, by id (read from the copy links, not by decoding every document)."""
    return list(index.copies.get(doc_id, ()))


def plan_put(index: Index, docs: Sequence[Document], at: str, groups: Groups, *, create_only: bool) -> Plan:
    """Put each document (replacing one with its id) unless the archive holds it unchanged."""
    check_unique(docs)
    plan = Plan()
    for doc in docs:
        held = index.documents.get(doc.id)
        if held is not None and held.sha256 == doc.sha256:
            plan.outcomes.append(_outcome(index, held, "unchanged"))
            continue
        if held is not None and create_only:
            raise Conflict(
                f"document id {doc.id!r} already holds other content; PUT /documents/{doc.id} replaces it, "
                "or send the article under another id"
            )
        groups.discard(doc.id)
        stored = _placed(doc, groups, added_at=held.added_at if held and held.added_at else at, at=at)
        plan.documents.append(stored)
        plan.outcomes.append(
            Outcome(id=doc.id, status="updated" if held else "added", passages=0, duplicate_of=stored.duplicate_of)
        )
        if held is not None and held.duplicate_of is None:
            _regroup(index, plan, copies_of(index, doc.id), groups, at)
    return plan


def check_unique(docs: Sequence[Document]) -> None:
    """InvalidInput when one write names a document id twice."""
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise InvalidInput(f"document id {doc.id!r} appears more than once in one write; send each once")
        seen.add(doc.id)


def plan_remove(index: Index, doc_ids: Sequence[str], groups: Groups, at: str) -> Plan:
    """Remove documents; copies of a removed original are grouped anew (the first becomes the original)."""
    unknown = [d for d in doc_ids if d not in index.documents]
    if unknown:
        raise NotFound(f"no document with id {unknown[0]!r}; GET /documents lists the ids (nothing was deleted)")
    plan = Plan(removed=list(dict.fromkeys(doc_ids)))
    for doc_id in plan.removed:
        groups.discard(doc_id)
        plan.outcomes.append(Outcome(id=doc_id, status="deleted", passages=0))
    for doc_id in plan.removed:
        if index.documents[doc_id].duplicate_of is None:
            left = [c for c in copies_of(index, doc_id) if c.id not in plan.removed]
            _regroup(index, plan, left, groups, at)
    return plan


def _regroup(index: Index, plan: Plan, copies: list[Document], groups: Groups, at: str) -> None:
    """Place the copies of a changed or removed original again: under another original, or indexed themselves."""
    for copy in copies:
        groups.discard(copy.id)
        moved = _placed(copy, groups, added_at=copy.added_at or at, at=copy.updated_at or at)
        if moved.duplicate_of != copy.duplicate_of:
            plan.documents.append(moved)


def _placed(doc: Document, groups: Groups, *, added_at: str, at: str) -> Document:
    """The document as stored: its times, and the original it copies (None: it is indexed and becomes findable)."""
    original = groups.original_of(doc.text)
    if original is None:
        groups.add(doc.id, doc.text)
    return msgspec.structs.replace(doc, added_at=added_at, updated_at=at, duplicate_of=original)


def _outcome(index: Index, doc: Document, status: Status) -> Outcome:
    """The outcome for a document as the index holds it."""
    return Outcome(id=doc.id, status=status, passages=len(index.doc_rows(doc.id)), duplicate_of=doc.duplicate_of)
