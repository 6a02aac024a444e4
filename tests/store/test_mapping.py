"""Index files are memory-mapped, stay valid after a newer snapshot collects them, and older postings still load."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEncoder

import qa.store.archive
from qa.base.settings import Settings
from qa.store import snapshot
from qa.store.archive import Archive
from qa.store.corpus import make_document
from qa.store.keyword import ARRAYS, VOCAB, Postings
from qa.store.manifest import read_manifest
from qa.store.mapping import available_memory, prefetch
from qa.store.pinning import pin
from qa.store.strings import Strings

OTTERS = "Otters returned to the harbour in spring. The wardens counted forty otters on the rocks near the pier."
BRIDGE = "The old stone bridge reopened on Monday. Engineers spent two years repairing its arches and railings."


@pytest.fixture
def settings(tmp_path: Path, fake_encoder: FakeEncoder) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "otters.txt").write_text(OTTERS, encoding="utf-8")
    (corpus / "bridge.txt").write_text(BRIDGE, encoding="utf-8")
    settings = Settings.of(corpus_dir=corpus, index_dir=tmp_path / "index", chunk_tokens=32, chunk_overlap=8)
    snapshot.build(settings.build, fake_encoder)
    return settings


def mapped_files() -> set[str]:
    """Names of the files this process has mapped (deleted ones included, as the kernel lists them)."""
    lines = Path(f"/proc/{os.getpid()}/maps").read_text().splitlines()
    return {Path(line.split(maxsplit=5)[5].removesuffix(" (deleted)")).name for line in lines if "/" in line}


def test_vectors_and_postings_are_mapped_read_only(settings: Settings, fake_encoder: FakeEncoder) -> None:
    index = Archive.open(settings.build, fake_encoder).index
    files = read_manifest(settings.build.index_dir).files
    mapped = mapped_files()
    assert files["dense"] in mapped and files["sentence_vectors"] in mapped
    assert {"rows.npy", "tfs.npy", "lengths.npy", "indptr.npy"} <= mapped
    assert not index.sentences.parts[0].vectors.flags.writeable
    assert not index.base.keyword.rows.flags.writeable


def test_a_reader_keeps_answering_after_its_files_are_collected(
    settings: Settings, fake_encoder: FakeEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qa.store.archive, "CHECKPOINT_MIN", 1)
    reader = Archive.open(settings.build, fake_encoder)
    query = fake_encoder.encode(["otters on the rocks"])[0]
    before = reader.index.dense_search(query, 3), reader.index.keyword.scores("otters").tolist()
    old = set(read_manifest(settings.build.index_dir).files.values())
    writer = Archive.open(settings.build, fake_encoder)
    for n in range(3):  # each write folds into a new snapshot; older snapshots' files are deleted
        writer.put([make_document(f"kite{n}", f"Kites number {n} filled the sky over the beach all weekend.")])
    assert not old & {p.name for p in settings.build.index_dir.iterdir()}
    assert (reader.index.dense_search(query, 3), reader.index.keyword.scores("otters").tolist()) == before
    assert reader.refresh() and {"kite0", "kite1", "kite2"} <= set(reader.index.documents)


def test_opening_retries_when_the_snapshot_is_collected_meanwhile(
    settings: Settings, fake_encoder: FakeEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qa.store.archive, "CHECKPOINT_MIN", 1)
    real = snapshot.load_snapshot
    calls = []

    def racing(*args: object, **kwargs: object) -> object:
        if not calls:  # a writer folds twice between this reader's manifest read and its file reads
            calls.append(1)
            writer = Archive.open(settings.build, fake_encoder)
            stale = read_manifest(settings.build.index_dir)
            writer.put([make_document("kite", "Kites filled the sky over the beach all weekend long.")])
            writer.put([make_document("kite2", "More kites filled the sky over the beach on Sunday.")])
            monkeypatch.setattr(qa.store.snapshot, "read_manifest", lambda _folder: stale, raising=True)
            try:
                return real(*args, **kwargs)  # type: ignore[arg-type]
            finally:
                monkeypatch.undo()
                monkeypatch.setattr(qa.store.archive, "CHECKPOINT_MIN", 1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(qa.store.archive.snapshot, "load_snapshot", racing)
    assert {"kite", "kite2"} <= set(Archive.open(settings.build, fake_encoder).index.documents)


def test_postings_of_an_older_index_still_load(tmp_path: Path) -> None:
    """An older index kept its terms in vocab.json and its arrays in one .npz file."""
    postings = Postings.build(["otters on rocks", "stone bridge arches", "otters again"])
    postings.save(tmp_path)
    with (tmp_path / "postings.npz").open("wb") as fh:
        np.savez(fh, **{name: getattr(postings, name) for name in ARRAYS})
    (tmp_path / "vocab.json").write_text(json.dumps(list(postings.vocab)), encoding="utf-8")
    for name in [*(f"{a}.npy" for a in ARRAYS), *Strings.files(VOCAB)]:
        (tmp_path / name).unlink()
    loaded = Postings.load(tmp_path)
    assert loaded.vocab == postings.vocab and loaded.term("otter")[0].tolist() == [0, 2]
    assert all(np.array_equal(getattr(loaded, n), getattr(postings, n)) for n in ARRAYS)


def test_prefetch_reads_files_in_order_while_they_fit_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder stands for its files; the first file that does not fit what is left stops the prefetch."""
    (tmp_path / "a.bin").write_bytes(b"x" * 100)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "one.npy").write_bytes(b"y" * 50)
    (tmp_path / "b" / "two.npy").write_bytes(b"z" * 30)
    (tmp_path / "c.bin").write_bytes(b"w" * 500)
    (tmp_path / "d.bin").write_bytes(b"v" * 10)
    advised: list[str] = []
    real_open = os.open
    names: dict[int, str] = {}

    def opening(path: str | Path, flags: int, *args: int) -> int:
        fd = real_open(path, flags, *args)
        names[fd] = Path(path).name
        return fd

    monkeypatch.setattr(os, "open", opening)
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, at, size, advice: advised.append(names[fd]))
    paths = [tmp_path / "a.bin", tmp_path / "b", tmp_path / "missing.bin", tmp_path / "c.bin", tmp_path / "d.bin"]
    prefetch(paths, budget=200).join(timeout=10)
    assert advised == ["a.bin", "one.npy", "two.npy"]
    advised.clear()
    prefetch(paths, budget=10_000).join(timeout=10)
    assert advised == ["a.bin", "one.npy", "two.npy", "c.bin", "d.bin"]
    advised.clear()
    pinned = pin([tmp_path / "c.bin"])  # in memory already: skipped, and not counted against the budget
    prefetch(paths, budget=200).join(timeout=10)
    pinned.release()
    assert advised == ["a.bin", "one.npy", "two.npy", "d.bin"]


def test_available_memory_is_what_the_kernel_reports() -> None:
    """MemAvailable from /proc/meminfo, in bytes."""
    line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemAvailable:"))
    assert abs(available_memory() - int(line.split()[1]) * 1024) < 512 << 20
