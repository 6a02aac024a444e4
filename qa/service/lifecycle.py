"""Opening, building and checking the index: the slow steps behind ``Engine.open`` and ``Engine.build``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from qa.base.errors import CorpusError, IndexMismatch, IndexMissing
from qa.base.files import TMP_PREFIX, exclusive
from qa.base.records import Document
from qa.base.settings import Settings
from qa.store import archive, distributed, encoders, snapshot
from qa.store.archive import Archive
from qa.store.corpus import Corpus, corpus_files, read_corpus
from qa.store.embedding import Encoder
from qa.store.index import Index
from qa.store.manifest import MANIFEST, mismatches, read_manifest

Progress = Callable[[str], None]


def check_before_loading(settings: Settings, *, build: bool, rebuild: bool = False, needs_corpus: bool = True) -> None:
    """Fail at once, before the slow model load, on what can be seen without it.

    Opening needs an index and (``needs_corpus``: to tell whether the index is current) the corpus folder. Building
    (``build``) needs a corpus and, when the index is to be (re)built, a folder it can write: a current index is
    served from a read-only folder.
    """
    folder = settings.build.index_dir
    has_index = (folder / MANIFEST).is_file()
    if not build and not has_index:
        raise IndexMissing(f"no index in {folder}; build it first with `qa index`")
    corpus_dir = settings.build.corpus_dir
    if (build or needs_corpus) and not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist; create it or set QA_CORPUS_DIR / --corpus")
    if build and (rebuild or not has_index or _stale(settings)):
        corpus_files(corpus_dir)
        _check_writable(folder)


def _stale(settings: Settings) -> bool:
    """True when the index differs from the settings or the corpus in a way seen without the model."""
    try:
        manifest = read_manifest(settings.build.index_dir)
    except IndexMismatch:
        return True
    return bool(mismatches(manifest, settings.build, None))


def _check_writable(folder: Path) -> None:
    """Fail when the index folder (or the nearest existing folder above it) cannot be written: try writing there.

    A trial file, not ``os.access``: it also sees read-only mounts, ACLs and root-squashed network folders.
    """
    path = folder
    while not path.exists() and path.parent != path:
        path = path.parent
    fix = "fix its permissions or set QA_INDEX_DIR / --index to a writable folder"
    if not path.is_dir():
        raise CorpusError(f"cannot write the index in {folder}: {path} is not a folder; {fix}")
    try:
        handle, trial = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix="-trial", dir=path)
    except OSError as exc:
        raise CorpusError(f"cannot write the index in {folder} ({path}: {exc.strerror}); {fix}") from None
    os.close(handle)
    os.unlink(trial)


def open_encoder(settings: Settings, progress: Progress | None = None) -> Encoder:
    """The embedding model the settings name, saying so first (loading takes seconds)."""
    if progress is not None:
        progress(f"loading model {settings.build.model}")
    return encoders.open_encoder(settings.build)


def documents(settings: Settings) -> list[Document]:
    """The documents of the index in ``index_dir`` (writes included), read without a model or the corpus."""
    check_before_loading(settings, build=False, needs_corpus=False)
    return list(archive.read(settings.build, check_corpus=False).documents.values())


def load(settings: Settings, encoder: Encoder) -> Archive:
    """The index in ``index_dir`` with its writes, refusing one built with another model, settings or corpus."""
    return Archive.open(settings.build, encoder)


def ensure(settings: Settings, encoder: Encoder, progress: Progress | None = None) -> Archive:
    """Open the index, building it first when it is missing or stale (other model, settings or corpus)."""
    say = progress or (lambda _msg: None)
    try:
        return Archive.open(settings.build, encoder)
    except (IndexMissing, IndexMismatch) as exc:
        say(f"{exc}; building")
    _check_writable(settings.build.index_dir)
    build(settings, encoder, say)
    return Archive.open(settings.build, encoder)


def corpus(settings: Settings) -> Corpus:
    """The corpus the settings name, read (and its ids and texts checked) without a model."""
    return read_corpus(settings.build.corpus_dir)


def build(
    settings: Settings, encoder: Encoder, progress: Progress | None = None, *, read: Corpus | None = None
) -> Index:
    """Build the index of the corpus (``read``: as already read) and write it atomically to ``index_dir``."""
    with exclusive(settings.build.index_dir):
        return snapshot.build(settings.build, encoder, progress=progress, corpus=read)


def build_on_ray(settings: Settings, address: str, progress: Progress | None = None) -> Index:
    """Build the index on Ray (a new local cluster when ``address`` is empty) and write it atomically to ``index_dir``.

    What can be checked here fails first; then the cluster starts (or is joined), the model is opened here once
    (so its ONNX export exists before the workers open it) and the build holds the index folder's lock.
    """
    check_before_loading(settings, build=True, rebuild=True)
    with distributed.cluster(address, settings.build.ray_workers) as workers:
        encoder = open_encoder(settings, progress)
        with exclusive(settings.build.index_dir):
            return distributed.build(settings.build, encoder, workers, progress=progress)
