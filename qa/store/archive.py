"""The living archive: an index folder that takes writes while it serves, losing nothing a writer was told is saved.

Every process holding an Archive sees one generation at a time (``index``) and moves to a newer one by
replaying the journal (``refresh``). A write embeds its new articles first, then, holding the folder's lock,
catches up with writes of other processes, appends one journal entry, fsyncs it and only then applies it
in memory and returns: the acknowledgement follows the fsync. When the recent part grows past a share of the
base, the write also folds everything into a new snapshot (a checkpoint) and starts an empty journal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
import numpy as np

from qa.base.errors import IndexMismatch, LockRefused
from qa.base.files import exclusive
from qa.base.records import Document
from qa.base.settings import BuildSettings
from qa.store import journal, originals, snapshot
from qa.store.duplicates import Groups
from qa.store.embedding import Encoder
from qa.store.index import Index
from qa.store.journal import Entry
from qa.store.keyword import Postings
from qa.store.layered import Layered
from qa.store.manifest import read_manifest
from qa.store.part import Part, flat, indexed_texts
from qa.store.planning import Outcome, Plan, check_unique, plan_put, plan_remove
from qa.store.sentence_table import SentencePart
from qa.store.spans import Spans

log = logging.getLogger(__name__)

CHECKPOINT_SHARE = 0.25  # fold into a new snapshot once recent and deleted passages reach this share of the base
CHECKPOINT_MIN = 2000  # … and at least this many passages
LOCK_WAIT = 30.0
OPEN_ATTEMPTS = 5  # a snapshot collected while being opened is retried with the newer one, this many times

__all__ = ["Archive", "Outcome"]


class Archive:
    """The index in a folder, current to the last write any process made; writes are journaled before they count."""

    def __init__(self, folder: Path, settings: BuildSettings, encoder: Encoder, index: Index, end: int) -> None:
        self.folder = folder
        self.settings = settings
        self.encoder = encoder
        self.index = index
        self._end = end
        self._lock = threading.RLock()
        self._groups: tuple[int, Groups] | None = None

    @classmethod
    def open(cls, settings: BuildSettings, encoder: Encoder, *, check_corpus: bool = True) -> Archive:
        """The snapshot in ``index_dir`` with its journal replayed."""
        index, end = _read(settings, encoder, check_corpus=check_corpus)
        return cls(settings.index_dir, settings, encoder, index, end)

    def refresh(self) -> bool:
        """Catch up with writes other processes made (a new snapshot or journal entries); True when anything changed."""
        with self._lock:
            return self._catch_up()

    def _catch_up(self) -> bool:
        """Replay new journal entries, or reload when another process wrote a new snapshot."""
        manifest = read_manifest(self.folder)
        if manifest.generation != self.index.manifest.generation:
            fresh = Archive.open(self.settings, self.encoder, check_corpus=False)
            self.index, self._end = fresh.index, fresh._end
            return True
        if not manifest.journal:
            return False
        entries, end = journal.read(self.folder / manifest.journal, self._end)
        if entries:
            self.index, self._end = replay(self.index, entries), end
        return bool(entries)

    def put(self, docs: Sequence[Document], *, create_only: bool = False) -> list[Outcome]:
        """Add or replace documents as one write (all or nothing); unchanged ones are reported, not rewritten.

        ``create_only``: an id already holding other content is a Conflict instead of a replacement.
        """
        check_unique(docs)
        fresh = [d for d in docs if self._changed(d)]
        ready = Part.build(fresh, self.settings, self.encoder, with_sentences=True) if fresh else None
        with self._lock, exclusive(self.folder, wait=LOCK_WAIT):
            self._catch_up()
            return self._write(lambda groups: plan_put(self.index, docs, now(), groups, create_only=create_only), ready)

    def remove(self, doc_ids: Sequence[str]) -> list[Outcome]:
        """Delete documents as one write (all or nothing); an unknown id is NotFound and nothing is deleted."""
        with self._lock, exclusive(self.folder, wait=LOCK_WAIT):
            self._catch_up()
            return self._write(lambda groups: plan_remove(self.index, doc_ids, groups, now()), None)

    def _write(self, planner: Callable[[Groups], Plan], ready: Part | None) -> list[Outcome]:
        """Plan against the newest generation and commit; the grouping of copies follows each write."""
        groups = self._current_groups()
        self._groups = None  # planning changes the groups: they count again only once the write is applied
        generation = self.index.manifest.generation
        outcomes = self._commit(planner(groups), ready, groups)
        if self.index.manifest.generation == generation:  # after a checkpoint, the new snapshot's file serves them
            self._groups = (self.index.revision, groups)
        return outcomes

    def _current_groups(self) -> Groups:
        """The originals of the current generation, findable by a copy's text (kept from write to write)."""
        if self._groups is None or self._groups[0] != self.index.revision:
            groups = originals.groups_of(self.index, self.folder, self.settings.duplicate_threshold)
            self._groups = (self.index.revision, groups)
        groups = self._groups[1]
        docs = self.index.documents
        groups.text_of = lambda doc_id: docs[doc_id].text  # as the newest generation holds it (no cycle via self)
        return groups

    def _changed(self, doc: Document) -> bool:
        """False when the archive already holds exactly this document."""
        held = self.index.documents.get(doc.id)
        return held is None or held.sha256 != doc.sha256

    def _commit(self, plan: Plan, ready: Part | None, groups: Groups) -> list[Outcome]:
        """Embed what the plan indexes (reusing ``ready``), journal it, fsync, apply; checkpoint when due."""
        if not plan.removed and not plan.documents:
            return plan.outcomes
        part = self._part_for(plan, ready)
        counts = {doc_id: end - first for doc_id, (first, end) in part.doc_rows.items()}
        outcomes = [
            o if o.status in ("unchanged", "deleted") else msgspec.structs.replace(o, passages=counts.get(o.id, 0))
            for o in plan.outcomes
        ]
        entry = Entry(
            seq=self.index.revision + 1,
            at=now(),
            removed=list(plan.removed),
            documents=list(plan.documents),
            passages=list(part.passages),
            vectors=part.vectors().astype(np.float32).tobytes(),
            sentences=list(part.sentences.spans),
            sentence_vectors=part.sentences.vectors.astype(np.float32).tobytes(),
        )
        manifest = self.index.manifest
        if not manifest.living or not manifest.journal:
            manifest = msgspec.structs.replace(
                manifest, living=True, journal=manifest.journal or f"journal-{manifest.generation}.log"
            )
            snapshot.write_manifest(self.folder, manifest)
            self.index = dataclasses.replace(self.index, manifest=manifest)
        self._end = journal.append(self.folder / manifest.journal, entry, self._end)
        self.index = apply(self.index, entry)
        if self._due():
            try:
                self._fold(groups)
            except LockRefused as exc:  # the write is durable in the journal: the next one tries the fold again
                log.warning("the journal was not folded into a new snapshot: %s", exc)
        return outcomes

    def _due(self) -> bool:
        """True when the recent part and the dead base rows together pass a share of the base: time to fold."""
        index = self.index
        churn = index.recent.size + (index.size - index.live_passages)
        return churn >= max(CHECKPOINT_MIN, CHECKPOINT_SHARE * index.base.size)

    def _part_for(self, plan: Plan, ready: Part | None) -> Part:
        """The indexed documents' part: cut from ``ready`` where it holds them, embedded now otherwise."""
        wanted = [d for d in plan.documents if d.duplicate_of is None]
        have = ready.doc_rows if ready is not None else {}
        cached = [d.id for d in wanted if d.id in have and _same_text(ready, d)]
        parts = []
        if ready is not None and cached:
            parts.append(ready.without([i for i in have if i not in set(cached)]))
        missing = [d for d in wanted if d.id not in set(cached)]
        if missing:
            parts.append(Part.build(missing, self.settings, self.encoder))
        return Part.join(parts, self.encoder.dimension) if parts else Part.empty(self.encoder.dimension)

    def checkpoint(self) -> None:
        """Fold the journal into a new snapshot with an empty journal."""
        with self._lock, exclusive(self.folder, wait=LOCK_WAIT):
            self._catch_up()
            self._fold(self._current_groups())

    def _fold(self, groups: Groups) -> None:
        """Write the current generation as a new snapshot (the caller holds both locks); ``groups`` holds the
        originals' signatures."""
        manifest = msgspec.structs.replace(self.index.manifest, generation=snapshot.generation_name(), living=True)
        folded = dataclasses.replace(self.index, manifest=manifest)
        self.index = snapshot.save(folded, self.folder, self.settings, groups=groups, lock=self.settings.lock_index)
        self._end = 0
        self._groups = None  # let go of the old snapshot's mapped signatures: the next write maps the new file


def read(settings: BuildSettings, encoder: Encoder | None = None, *, check_corpus: bool = True) -> Index:
    """The index in ``index_dir`` as of its last write (snapshot plus journal), for reading only."""
    return _read(settings, encoder, check_corpus=check_corpus)[0]


def _read(settings: BuildSettings, encoder: Encoder | None, *, check_corpus: bool) -> tuple[Index, int]:
    """The snapshot with its journal replayed, and where the journal's whole entries end.

    Opening races with writers: between reading the manifest and opening its files, newer snapshots may have
    been written and this one's files collected. Then the newer snapshot is opened instead.
    """
    for _ in range(OPEN_ATTEMPTS - 1):
        tried = read_manifest(settings.index_dir).generation
        try:
            return _read_once(settings, encoder, check_corpus=check_corpus)
        except IndexMismatch:
            if read_manifest(settings.index_dir).generation == tried:
                raise
    return _read_once(settings, encoder, check_corpus=check_corpus)


def _read_once(settings: BuildSettings, encoder: Encoder | None, *, check_corpus: bool) -> tuple[Index, int]:
    """The snapshot the manifest names now, with its journal replayed."""
    base = snapshot.load_snapshot(settings.index_dir, settings, encoder, check_corpus=check_corpus)
    if not base.manifest.journal:
        return base, 0
    entries, end = journal.read(settings.index_dir / base.manifest.journal)
    return replay(base, entries), end


def _same_text(ready: Part | None, doc: Document) -> bool:
    """True when the pre-embedded part was made from this very text (it was embedded before the lock was taken)."""
    if ready is None or doc.id not in ready.doc_rows:
        return False
    first, end = ready.doc_rows[doc.id]
    return all(doc.text[p.start : p.end] == p.text for p in ready.passages[first:end])


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def replay(index: Index, entries: Sequence[Entry]) -> Index:
    """The index with journal entries applied in order."""
    for entry in entries:
        if entry.seq <= index.revision:
            raise IndexMismatch(f"journal entry {entry.seq} follows revision {index.revision}; rebuild with `qa index`")
        index = apply(index, entry)
    return index


def apply(index: Index, entry: Entry) -> Index:
    """A new generation: the entry's removed and replaced documents gone, its documents and passages added."""
    dimension = index.base.dense.d
    changed = set(entry.removed) | {d.id for d in entry.documents}
    docs = Layered.written(index.documents, entry.removed, entry.documents)
    vectors = np.frombuffer(entry.vectors, dtype=np.float32).reshape(-1, dimension)
    sentence_vectors = np.frombuffer(entry.sentence_vectors, dtype=np.float32).reshape(-1, dimension)
    added = Part(
        Spans.of(entry.passages),
        flat(vectors, dimension),
        Postings.build(indexed_texts(entry.passages, docs, index.manifest.embed_title)),
        SentencePart.embedded(entry.sentences, sentence_vectors),
    )
    recent = Part.join([index.recent.without(changed), added], dimension)
    base_dead = index.base_dead | {d for d in changed if d in index.base.doc_rows}
    return Index(index.manifest, docs, index.base, recent, frozenset(base_dead), entry.seq)
