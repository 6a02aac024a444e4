"""A write to a large archive costs what it needs: documents laid over the snapshot's file, signatures in a file."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import numpy as np
import pytest
from conftest import FakeEncoder
from test_duplicate_groups import OldGroups, near_copy

from qa.base.errors import IndexMismatch
from qa.base.records import Document
from qa.base.settings import Settings
from qa.store import originals
from qa.store.archive import Archive
from qa.store.corpus import make_document
from qa.store.document_file import DocumentFile
from qa.store.facts import Facts
from qa.store.layered import Layered
from qa.store.manifest import read_manifest
from qa.store.snapshot import build, write_manifest

TEXTS = [
    "Otters returned to the harbour in spring. The wardens counted forty otters on the rocks near the pier.",
    "The old stone bridge reopened on Monday. Engineers spent two years repairing its arches and railings.",
    "Protesters marched from Turbat to Quetta. The march ended with a sit-in outside the press club for days.",
    "The council voted to repair the flood walls before winter, after the storm broke the north gate twice.",
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, text in enumerate(TEXTS):
        (corpus / f"a{i}.txt").write_text(text, encoding="utf-8")
    (corpus / "a9-copy.txt").write_text(TEXTS[0], encoding="utf-8")
    return Settings.of(corpus_dir=corpus, index_dir=tmp_path / "index", chunk_tokens=32, chunk_overlap=8)


def as_dict(docs: dict[str, Document], removed: list[str], put: list[Document]) -> dict[str, Document]:
    """What a write did to the documents before: every document copied into a new dict."""
    changed = set(removed) | {d.id for d in put}
    out = {k: v for k, v in docs.items() if k not in changed}
    out.update({d.id: d for d in put})
    return out


def described(rng: random.Random, doc_id: str, text: str) -> Document:
    """A document with a random author, outlet and date (some missing, some dates not calendar dates)."""
    return make_document(
        doc_id,
        text,
        author=rng.choice([None, "Ann Lee", "ann lee", "Bo Chen", "Zed"]),
        source=rng.choice([None, "Harbour News", "HARBOUR NEWS", "Quay Daily", f"Outlet {rng.randint(0, 3)}"]),
        date=rng.choice(
            [None, "2024-01-02", "2024-01-02T10:00:00", "2023-12-31", "2024-13-45", f"2025-0{rng.randint(1, 9)}-01"]
        ),
    )


def fact_rows(facts: Facts) -> list[tuple[object, ...]]:
    """Per document, every fact as its value (not its code), and where ``position`` places it."""
    return [
        (
            doc_id,
            facts.position[doc_id],
            facts.authors[facts.author[i]],
            facts.sources[facts.source[i]],
            facts.dates[facts.date[i]] if facts.date[i] >= 0 else None,
            bool(facts.duplicate[i]),
            int(facts.day[i]),
        )
        for i, doc_id in enumerate(facts.ids)
    ]


def test_layered_documents_read_and_iterate_as_the_copied_dict(tmp_path: Path) -> None:
    rng = random.Random(5)
    docs = [described(rng, f"d{i:02d}", f"text {i}") for i in range(30)]
    docs = [msgspec.structs.replace(d, duplicate_of="d00" if i % 7 == 3 else None) for i, d in enumerate(docs)]
    path = tmp_path / "documents.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(d) + b"\n" for d in docs))
    expected: dict[str, Document] = {d.id: d for d in docs}
    layered: Layered | DocumentFile = DocumentFile(path)
    for step in range(40):
        ids = [*sorted(expected), f"n{step}"]
        removed = rng.sample(sorted(expected), k=min(len(expected), rng.randint(0, 2)))
        pool = [i for i in ids if i not in removed]
        put = [
            msgspec.structs.replace(described(rng, doc_id, f"new {step}"), duplicate_of=rng.choice([None, "d01"]))
            for doc_id in rng.sample(pool, k=min(len(pool), rng.randint(0, 3)))
        ]
        expected = as_dict(expected, removed, put)
        layered = Layered.written(layered, removed, put)
        assert list(layered) == list(expected) and len(layered) == len(expected)
        assert dict(layered.items()) == expected
        assert all((doc_id in layered) == (doc_id in expected) for doc_id in [*ids, "d99"])
        assert layered.duplicates == {k: v.duplicate_of for k, v in expected.items() if v.duplicate_of}
        with pytest.raises(KeyError):
            layered["d99"]
        laid, whole = layered.facts, Facts.of(expected.values())  # from the file's heads and the writes, or not
        assert fact_rows(laid) == fact_rows(whole) and laid.newest == whole.newest
        assert sorted(laid.dates) == laid.dates


def test_the_snapshot_holds_its_originals_signatures(settings: Settings, fake_encoder: FakeEncoder) -> None:
    build(settings.build, fake_encoder)
    folder = settings.build.index_dir
    manifest = read_manifest(folder)
    archive = Archive.open(settings.build, fake_encoder)
    ids = originals.originals(archive.index.documents)
    assert "a9-copy" not in ids and len(ids) == len(TEXTS)
    stored = originals.load(folder, manifest, len(ids))
    assert stored is not None and isinstance(stored, np.memmap)
    assert (stored == originals.for_save(archive.index.documents, ids, None)).all()
    archive.put([make_document("b1", near_copy(random.Random(1), TEXTS[2]) + " More.")])
    archive.checkpoint()  # the new snapshot's file holds the written original too
    manifest = read_manifest(folder)
    docs = Archive.open(settings.build, fake_encoder).index.documents
    ids = originals.originals(docs)
    assert manifest.files[originals.FILE] in {p.name for p in folder.iterdir()}
    assert (originals.load(folder, manifest, len(ids)) == originals.for_save(docs, ids, None)).all()


def test_a_signatures_file_that_does_not_fit_asks_for_a_rebuild(settings: Settings, fake_encoder: FakeEncoder) -> None:
    build(settings.build, fake_encoder)
    folder = settings.build.index_dir
    manifest = read_manifest(folder)
    originals.write(folder / manifest.files[originals.FILE], np.zeros((2, 3), dtype=np.uint64))
    archive = Archive.open(settings.build, fake_encoder)  # reading never needs them
    with pytest.raises(IndexMismatch, match="rebuild it with `qa index`"):
        archive.put([make_document("b2", "A brand new article about the harbour and its flood walls.")])


def test_an_index_without_signatures_computes_them_at_the_first_write(
    settings: Settings, fake_encoder: FakeEncoder
) -> None:
    build(settings.build, fake_encoder)
    folder = settings.build.index_dir
    manifest = read_manifest(folder)
    files = {k: v for k, v in manifest.files.items() if k != originals.FILE}
    write_manifest(folder, msgspec.structs.replace(manifest, files=files))
    archive = Archive.open(settings.build, fake_encoder)
    (outcome,) = archive.put([make_document("b3", TEXTS[1] + " Via the wire.")])
    assert outcome.duplicate_of == "a1"


def test_groups_after_replayed_writes_decide_as_groups_over_every_document(
    settings: Settings, fake_encoder: FakeEncoder
) -> None:
    build(settings.build, fake_encoder)
    archive = Archive.open(settings.build, fake_encoder)
    rng = random.Random(3)
    for step in range(8):
        held = sorted(archive.index.documents)
        if step % 3 == 2:
            archive.remove([rng.choice(held)])
        else:
            source = archive.index.documents[rng.choice(held)].text
            text = near_copy(rng, source) if step % 2 else f"Fresh story {step} about the quay. " * 3
            archive.put([make_document(rng.choice([f"w{step}", *held]), text)])
    reopened = Archive.open(settings.build, fake_encoder)  # the journal replayed over the snapshot
    docs = reopened.index.documents
    assert isinstance(docs, Layered)
    threshold = settings.build.duplicate_threshold
    groups = originals.groups_of(reopened.index, settings.build.index_dir, threshold)
    oracle = OldGroups.of(((d.id, d.text) for d in docs.values() if d.duplicate_of is None), threshold)
    queries = [near_copy(rng, docs[d].text) for d in sorted(docs) for _ in range(3)] + TEXTS
    expected = [oracle.original_of(q) for q in queries]
    assert [groups.original_of(q) for q in queries] == expected
    assert any(e is not None for e in expected) and None in expected
