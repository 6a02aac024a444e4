"""Articles on disk into the archive: paths read into Documents, batched writes, what syncing a folder changes."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from qa.base.errors import CorpusError, QAError
from qa.base.records import Document
from qa.base.settings import Settings
from qa.service import lifecycle
from qa.service.engine import Engine
from qa.service.submissions import WriteOut
from qa.store.archive import Archive
from qa.store.corpus import SUFFIXES, parse_file, unique, unusable

BATCH = 64  # documents per journaled write: a crash loses at most the batch in flight, which was never acknowledged
JSONL_ORIGIN = re.compile(r"(.+\.jsonl):\d+", re.IGNORECASE)
Tick = Callable[[int, int], None]
T = TypeVar("T")


@dataclass(frozen=True)
class Reading:
    """The usable documents read from some paths (ids unique), and each source skipped (``source: why``)."""

    documents: list[Document]
    skipped: list[str]


@dataclass(frozen=True)
class SyncPlan:
    """What syncing a folder does: documents to put (unchanged ones stay as they are) and ids to remove."""

    folder: Path
    documents: list[Document]
    removed: list[str]
    skipped: list[str]


def open_writer(settings: Settings) -> Engine:
    """An engine over the index on disk for writing: its model and archive, without the corpus check.

    A written archive no longer mirrors the corpus folder, so writing needs neither that folder nor a match with it;
    the model and chunk settings must still match the index.
    """
    lifecycle.check_before_loading(settings, build=False, needs_corpus=False)
    encoder = lifecycle.open_encoder(settings)
    return Engine(settings, encoder, Archive.open(settings.build, encoder, check_corpus=False))


def supported_files(folder: Path) -> list[Path]:
    """The supported files directly in ``folder`` (not its subfolders), sorted by name; it may hold none."""
    if not folder.is_dir():
        raise CorpusError(f"{folder} is not a folder; give the folder of articles to sync")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


def read_paths(paths: Sequence[Path]) -> Reading:
    """The documents in files and in folders' supported files (not subfolders); an id read twice is a CorpusError.

    Paths are made absolute, so a document's ``origin`` names its file wherever the command ran.
    """
    files: list[Path] = []
    for given in paths:
        path = given.resolve()
        if path.is_dir():
            found = supported_files(path)
            if not found:
                raise CorpusError(f"folder {given} has no {', '.join(SUFFIXES)} files; add articles to it")
            files.extend(found)
        elif not path.exists():
            raise CorpusError(f"{given}: no such file or folder")
        elif path.suffix.lower() not in SUFFIXES:
            raise CorpusError(f"{given} is not an article file; use one of {', '.join(SUFFIXES)}")
        else:
            files.append(path)
    return _read(list(dict.fromkeys(files)))


def _read(files: Sequence[Path]) -> Reading:
    """Every usable document in the files, skipping sources with no article text."""
    docs: list[Document] = []
    skipped: list[str] = []
    for path in files:
        for doc in parse_file(path, path.read_bytes()):
            why = unusable(doc.text)
            if why is None:
                docs.append(doc)
            else:
                skipped.append(f"{doc.origin}: {why}")
    return Reading(unique(docs), skipped)


def origin_file(origin: str | None) -> Path | None:
    """The file a document was read from (``path`` or ``path.jsonl:line``), absolute; None for API articles."""
    if not origin:
        return None
    found = JSONL_ORIGIN.fullmatch(origin)
    return Path(found.group(1) if found else origin).resolve()


def plan_sync(folder: Path, held: Sequence[Document]) -> SyncPlan:
    """Make the archive match a folder: put every article in it, remove those read from it that are gone.

    Only documents whose ``origin`` file lies directly in ``folder`` can be removed: never articles sent over the
    API or read from other folders (or subfolders).
    """
    folder = folder.resolve()
    reading = _read(supported_files(folder))
    present = {d.id for d in reading.documents}
    removed = sorted(
        d.id
        for d in held
        if d.id not in present and (file := origin_file(d.origin)) is not None and file.parent == folder
    )
    return SyncPlan(folder, reading.documents, removed, reading.skipped)


def preview(docs: Sequence[Document], held: Sequence[Document]) -> dict[str, str]:
    """What putting ``docs`` would do to each, by id (added, updated, unchanged), without writing.

    Whether an article is grouped as a copy is decided only when it is written.
    """
    known = {d.id: d.sha256 for d in held}
    return {d.id: "added" if d.id not in known else "unchanged" if known[d.id] == d.sha256 else "updated" for d in docs}


def put_in_batches(
    engine: Engine, docs: Sequence[Document], *, size: int = BATCH, tick: Tick | None = None
) -> list[WriteOut]:
    """Put documents ``size`` at a time, each batch one journaled write; ``tick(done, total)`` after each."""
    return _batched(engine.put_documents, docs, size, tick)


def remove_in_batches(
    engine: Engine, ids: Sequence[str], *, size: int = BATCH, tick: Tick | None = None
) -> list[WriteOut]:
    """Remove documents ``size`` at a time, each batch one journaled write; ``tick(done, total)`` after each."""
    return _batched(engine.remove_documents, ids, size, tick)


def _batched(
    write: Callable[[Sequence[T]], list[WriteOut]], items: Sequence[T], size: int, tick: Tick | None
) -> list[WriteOut]:
    """Apply ``write`` to consecutive batches; a failing batch says how many items earlier batches saved."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    out: list[WriteOut] = []
    for start in range(0, len(items), size):
        try:
            out.extend(write(items[start : start + size]))
        except QAError as exc:
            if start == 0:
                raise
            raise type(exc)(
                f"{exc} (the {start} before this batch were saved; run the command again to finish)"
            ) from exc
        if tick is not None:
            tick(min(start + size, len(items)), len(items))
    return out
