"""The living archive: writes journaled before they count, replayed on open, exact after deletes, copies grouped."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEncoder

import qa.store.archive
from qa.base.errors import Conflict, InvalidInput, NotFound
from qa.base.records import Document
from qa.base.settings import Settings
from qa.store import journal
from qa.store.archive import Archive, read
from qa.store.corpus import make_document
from qa.store.keyword import KeywordIndex, Postings
from qa.store.manifest import MANIFEST, read_manifest
from qa.store.part import indexed_texts
from qa.store.snapshot import build

OTTERS = "Otters returned to the harbour in spring. The wardens counted forty otters on the rocks near the pier."
BRIDGE = "The old stone bridge reopened on Monday. Engineers spent two years repairing its arches and railings."
MARCH = "Protesters marched from Turbat to Quetta. The march ended with a sit-in outside the press club for days."


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "otters.txt").write_text(OTTERS, encoding="utf-8")
    (corpus / "bridge.txt").write_text(BRIDGE, encoding="utf-8")
    return Settings.of(corpus_dir=corpus, index_dir=tmp_path / "index", chunk_tokens=32, chunk_overlap=8)


@pytest.fixture
def archive(settings: Settings, fake_encoder: FakeEncoder) -> Archive:
    build(settings.build, fake_encoder)
    return Archive.open(settings.build, fake_encoder)


def doc(doc_id: str, text: str, **meta: str) -> Document:
    return make_document(doc_id, text, **meta)


def fresh_keyword(archive: Archive) -> KeywordIndex:
    """BM25 built from scratch over exactly the live passages, in the order the archive holds them."""
    index = archive.index
    live = [p for row, p in enumerate(index.passages) if index.live is None or index.live[row]]
    texts = indexed_texts(live, index.documents, index.manifest.embed_title)
    return KeywordIndex((Postings.build(texts),), k1=index.manifest.bm25_k1, b=index.manifest.bm25_b)


def live_scores(archive: Archive, query: str) -> np.ndarray:
    index = archive.index
    scores = index.keyword.scores(query)
    return scores if index.live is None else scores[index.live]


def test_add_is_journaled_and_found_after_reopening(archive: Archive, settings: Settings, fake_encoder: FakeEncoder):
    [out] = archive.put([doc("march", MARCH, source="Dawn", date="2024-01-02")])
    assert (out.id, out.status) == ("march", "added") and out.passages >= 1
    assert archive.index.revision == 1 and archive.index.manifest.living
    assert (settings.build.index_dir / archive.index.manifest.journal).stat().st_size > 0
    again = Archive.open(settings.build, fake_encoder)
    stored = again.index.documents["march"]
    assert stored.source == "Dawn" and stored.added_at and stored.updated_at == stored.added_at
    rows = again.index.doc_rows("march")
    assert len(rows) == out.passages
    np.testing.assert_allclose(again.index.vectors_of(list(rows)), archive.index.vectors_of(list(rows)), atol=1e-6)
    assert int(np.argmax(again.index.keyword.scores("Turbat sit-in"))) in rows


def test_same_content_again_is_unchanged_and_writes_nothing(archive: Archive, settings: Settings) -> None:
    archive.put([doc("march", MARCH)])
    journal_file = settings.build.index_dir / archive.index.manifest.journal
    size = journal_file.stat().st_size
    [out] = archive.put([doc("march", MARCH)])
    assert out.status == "unchanged" and out.passages >= 1
    assert journal_file.stat().st_size == size and archive.index.revision == 1
    with pytest.raises(Conflict, match="PUT"):
        archive.put([doc("march", MARCH + " More.")], create_only=True)


def test_replace_forgets_the_old_text_everywhere(archive: Archive) -> None:
    before = archive.index
    [out] = archive.put([doc("otters", "Seals arrived in the bay in winter. Divers counted nine seals near the buoy.")])
    assert out.status == "updated"
    index = archive.index
    assert index.keyword.scores("otters wardens pier").max() == 0
    assert before.keyword.scores("otters wardens pier").max() > 0, "the earlier generation still answers"
    assert int(np.argmax(index.keyword.scores("seals buoy"))) in index.doc_rows("otters")
    texts = [index.sentences.span(r).text for p in index.passages for r in index.sentences.rows_in(p)]
    assert not any("otters" in t.lower() for t in texts)
    hits = index.dense_search(FakeEncoder().encode(["otters harbour wardens"])[0], 50)
    assert all(index.passages[row].doc_id != "otters" or "seal" in index.passages[row].text.lower() for row, _ in hits)


def test_delete_leaves_bm25_exactly_as_a_fresh_index(archive: Archive) -> None:
    archive.put([doc("march", MARCH)])
    archive.remove(["bridge"])
    assert "bridge" not in archive.index.documents and not archive.index.doc_rows("bridge")
    expected = fresh_keyword(archive)
    for query in ("bridge arches", "otters harbour", "Quetta march sit-in", "spring two years"):
        np.testing.assert_allclose(live_scores(archive, query), expected.scores(query), rtol=1e-6, atol=1e-7)
    assert archive.index.keyword.known_fraction("arches railings") == 0.0
    with pytest.raises(NotFound, match="nothing was deleted"):
        archive.remove(["otters", "nope"])
    assert "otters" in archive.index.documents


def test_a_batch_is_all_or_nothing(archive: Archive) -> None:
    with pytest.raises(InvalidInput, match="more than once"):
        archive.put([doc("march", MARCH), doc("march", BRIDGE)])
    assert "march" not in archive.index.documents and archive.index.revision == 0
    outs = archive.put([doc("march", MARCH), doc("bridge", BRIDGE), doc("new", "A brand new article about kites.")])
    assert [o.status for o in outs] == ["added", "unchanged", "added"]
    assert archive.index.revision == 1


def test_a_torn_last_entry_is_ignored_then_cut_off(archive: Archive, settings: Settings, fake_encoder) -> None:
    archive.put([doc("march", MARCH)])
    path = settings.build.index_dir / archive.index.manifest.journal
    whole = path.stat().st_size
    entry = journal.Entry(seq=2, at="x", removed=["otters"])
    path.write_bytes(path.read_bytes() + journal.frame(entry)[:-3])  # a crash in the middle of an append
    reopened = Archive.open(settings.build, fake_encoder)
    assert "otters" in reopened.index.documents and reopened.index.revision == 1
    reopened.put([doc("kites", "Kites filled the sky over the beach all weekend long.")])
    entries, end = journal.read(path)
    assert [e.seq for e in entries] == [1, 2] and end == path.stat().st_size > whole
    assert set(read(settings.build, fake_encoder).documents) == {"otters", "bridge", "march", "kites"}


def test_checkpoint_folds_the_journal_into_a_new_snapshot(
    archive: Archive, settings: Settings, fake_encoder: FakeEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qa.store.archive, "CHECKPOINT_MIN", 1)
    first = archive.index.manifest.generation
    archive.put([doc("march", MARCH)])
    assert archive.index.manifest.generation != first and archive.index.recent.size == 0
    assert archive.index.base_dead == frozenset() and archive.index.revision == 1
    reopened = read(settings.build, fake_encoder)
    assert set(reopened.documents) == {"otters", "bridge", "march"} and reopened.revision == 1
    archive.remove(["otters"])
    assert set(read(settings.build, fake_encoder).documents) == {"bridge", "march"}


def test_a_checkpoint_lets_go_of_the_old_snapshot_s_signatures(
    archive: Archive, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def mapped() -> set[str]:
        maps = Path("/proc/self/maps").read_text().splitlines()
        return {Path(line.split(maxsplit=5)[5]).name for line in maps if "signatures-" in line}

    wire = MARCH + " Police said the crowd was peaceful and left before nightfall on the last day."
    archive.put([doc("dawn", wire)])  # maps the snapshot's signatures to find originals
    old = settings.build.index_dir / archive.index.manifest.files["signatures"]
    assert old.name in mapped()
    monkeypatch.setattr(qa.store.archive, "CHECKPOINT_MIN", 1)
    archive.put([doc("kites", "Kites filled the sky over the beach all weekend long.")])  # folds: a new snapshot
    assert old.name not in mapped()  # unlinked at the next fold: a mapping would hold its disk space
    monkeypatch.setattr(qa.store.archive, "CHECKPOINT_MIN", 10**6)
    [out] = archive.put([doc("tribune", wire + " Reporting by staff.")])  # the new snapshot's file finds the original
    assert out.duplicate_of == "dawn"
    assert archive.index.manifest.files["signatures"] in mapped()


def test_two_processes_see_each_others_writes(archive: Archive, settings: Settings, fake_encoder) -> None:
    other = Archive.open(settings.build, fake_encoder)
    archive.put([doc("march", MARCH)])
    assert "march" not in other.index.documents
    assert other.refresh() and "march" in other.index.documents
    other.remove(["bridge"])  # catches up under the lock before writing
    archive.put([doc("kites", "Kites filled the sky over the beach all weekend long.")])
    assert set(archive.index.documents) == {"otters", "march", "kites"}
    assert archive.index.revision == 3


def test_a_copy_is_grouped_and_takes_over_when_the_original_goes(archive: Archive) -> None:
    wire = MARCH + " Police said the crowd was peaceful and left before nightfall on the last day."
    archive.put([doc("dawn", wire, source="Dawn")])
    [out] = archive.put([doc("tribune", wire + " Reporting by staff.", source="Tribune")])
    assert out.duplicate_of == "dawn" and out.passages == 0
    assert not archive.index.doc_rows("tribune") and archive.index.copies["dawn"][0].id == "tribune"
    archive.remove(["dawn"])
    promoted = archive.index.documents["tribune"]
    assert promoted.duplicate_of is None and archive.index.doc_rows("tribune")


def test_a_write_returns_only_once_what_it_wrote_is_fsynced(
    archive: Archive, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What killing the process cannot show (the page cache outlives it): at each acknowledgement, every file the
    manifest names (and the manifest and journal) was fsynced after its last change, and the folder after them."""
    clock = itertools.count()
    synced: dict[int, tuple[int, int, int]] = {}  # inode: (size, mtime_ns, when) at its last fsync
    first: dict[int, int] = {}  # inode: when it was first fsynced
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        found, when = os.fstat(fd), next(clock)
        synced[found.st_ino] = (found.st_size, found.st_mtime_ns, when)
        first.setdefault(found.st_ino, when)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(qa.store.archive, "CHECKPOINT_MIN", 4)  # some writes fold the journal into a snapshot
    monkeypatch.setattr(qa.store.archive, "CHECKPOINT_SHARE", 0.01)
    folder = settings.build.index_dir
    generations = set()

    def check_durable() -> None:
        manifest = read_manifest(folder)
        generations.add(manifest.generation)
        named = [folder / MANIFEST, folder / manifest.journal, *(folder / n for n in manifest.files.values())]
        paths = [q for p in named for q in ([p, *p.rglob("*")] if p.is_dir() else [p]) if q.exists()]
        assert folder / manifest.journal in paths or archive.index.revision == manifest.revision
        folder_synced = synced.get(folder.stat().st_ino, (0, 0, -1))[2]
        for path in paths:
            found = path.stat()
            size, mtime, _ = synced.get(found.st_ino, (-1, -1, -1))
            assert (size, mtime) == (found.st_size, found.st_mtime_ns) or path.is_dir(), f"{path.name} not fsynced"
            assert first[found.st_ino] < folder_synced, f"{path.name}: its folder was not fsynced after it"

    archive.checkpoint()  # a snapshot written while fsyncs are watched
    check_durable()
    for n in range(12):
        text = f"Report {n}: the ferry to island {n} sailed at dawn with {n * 7} passengers and {n + 3} cars aboard."
        if n % 4 == 3:
            archive.remove([f"note{n - 1}"])
        elif n % 4 == 2:
            archive.put([doc(f"note{n}", text), doc(f"extra{n}", text.replace("ferry", "barge") + " Late.")])
        else:
            archive.put([doc(f"note{n}", text)])
        check_durable()
    assert len(generations) >= 3, "no write folded the journal into a snapshot"
