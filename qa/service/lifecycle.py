"""Opening, building and checking the index: the slow steps behind ``Engine.open`` and ``Engine.build``."""

from __future__ import annotations

import os
from collections.abc import Callable

from qa.base.errors import CorpusError, IndexMismatch, IndexMissing
from qa.base.records import Document
from qa.base.settings import Settings
from qa.store import encoders
from qa.store import index as index_files
from qa.store.corpus import corpus_files
from qa.store.embedding import Encoder
from qa.store.index import Index
from qa.store.manifest import MANIFEST

Progress = Callable[[str], None]


def check_before_loading(settings: Settings, *, build: bool, rebuild: bool = False) -> None:
    """Fail at once, before the slow model load, on what can be seen without it.

    Opening needs an index, or (``build``) a corpus to build one from and an index folder that can be written.
    """
    folder = settings.build.index_dir
    has_index = (folder / MANIFEST).is_file()
    if not build:
        if not has_index:
            raise IndexMissing(f"no index in {folder}; build it first with `qa index`")
        return
    if not settings.build.corpus_dir.is_dir():
        raise CorpusError(
            f"corpus folder {settings.build.corpus_dir} does not exist; create it or set QA_CORPUS_DIR / --corpus"
        )
    if rebuild or not has_index:
        corpus_files(settings.build.corpus_dir)
    _check_writable(folder)


def _check_writable(folder: os.PathLike[str]) -> None:
    """Fail when the index folder (or the nearest existing folder above it) cannot be written."""
    path = os.fspath(folder)
    while not os.path.exists(path):
        parent = os.path.dirname(path) or "."
        if parent == path:
            break
        path = parent
    if not os.access(path, os.W_OK | os.X_OK):
        raise CorpusError(
            f"cannot write the index in {folder} ({path} is not writable); fix its permissions or set "
            "QA_INDEX_DIR / --index to a writable folder"
        )


def open_encoder(settings: Settings, progress: Progress | None = None) -> Encoder:
    """The embedding model the settings name, saying so first (loading takes seconds)."""
    if progress is not None:
        progress(f"loading model {settings.build.model}")
    return encoders.open_encoder(settings.build)


def documents(settings: Settings) -> list[Document]:
    """The documents of the index in ``index_dir``, read without a model and without comparing the corpus."""
    check_before_loading(settings, build=False)
    return list(index_files.load(settings.build.index_dir, settings.build, check_corpus=False).documents.values())


def load(settings: Settings, encoder: Encoder) -> Index:
    """The index in ``index_dir``, refusing one built with another model, settings or corpus."""
    return index_files.load(settings.build.index_dir, settings.build, encoder)


def ensure(settings: Settings, encoder: Encoder, progress: Progress | None = None) -> Index:
    """Load the index, building it first when it is missing or stale (other model, settings or corpus)."""
    say = progress or (lambda _msg: None)
    try:
        return index_files.load(settings.build.index_dir, settings.build, encoder)
    except (IndexMissing, IndexMismatch) as exc:
        say(f"{exc}; building")
    _check_writable(settings.build.index_dir)
    return index_files.build(settings.build, encoder, progress=say)


def build(settings: Settings, encoder: Encoder, progress: Progress | None = None) -> Index:
    """Build the index of the corpus and write it atomically to ``index_dir``."""
    return index_files.build(settings.build, encoder, progress=progress)
