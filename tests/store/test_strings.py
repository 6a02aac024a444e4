"""A string table finds each string by value, from memory or mapped files, and is never fooled by a hash collision."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEncoder

from qa.base.settings import Settings
from qa.store import strings
from qa.store.archive import Archive
from qa.store.corpus import make_document
from qa.store.keyword import VOCAB, Postings
from qa.store.manifest import FORMAT_VERSION, MANIFEST, read_manifest
from qa.store.snapshot import build
from qa.store.strings import Strings

WORDS = ["otter", "harbour", "héllo", "日本", "", "a" * 300, "ça"]


def test_one_string_s_hash_is_the_hash_the_table_stores() -> None:
    encoded = [w.encode() for w in WORDS]
    assert strings._hashes(encoded).tolist() == [int(strings._hash(b)) for b in encoded]


def test_each_string_is_found_at_its_place_and_absent_ones_are_not() -> None:
    table = Strings.of(WORDS)
    assert list(table) == WORDS and len(table) == len(WORDS)
    assert [table[i] for i in range(len(WORDS))] == WORDS and table[-1] == "ça" and table[1:3] == WORDS[1:3]
    assert [table.get(w) for w in WORDS] == list(range(len(WORDS)))
    assert table.get("otters") is None and table.get("Otter") is None and "pier" not in table and "ça" in table
    with pytest.raises(IndexError):
        table[len(WORDS)]
    asked = [*WORDS[::-1], "otters", "ça", ""]
    assert table.places(asked).tolist() == [-1 if table.get(w) is None else table.get(w) for w in asked]
    assert table.places([]).tolist() == [] and Strings.of([]).places(["otter"]).tolist() == [-1]


def test_a_string_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'otter' occurs twice"):
        Strings.of(["otter", "pier", "otter"])


def test_saved_tables_load_mapped_and_equal(tmp_path: Path) -> None:
    table = Strings.of(WORDS)
    table.save(tmp_path, "vocab")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(Strings.files("vocab"))
    loaded = Strings.load(tmp_path, "vocab")
    maps = Path(f"/proc/{os.getpid()}/maps").read_text()
    assert all(str(tmp_path / name) in maps for name in Strings.files("vocab") if (tmp_path / name).stat().st_size)
    assert loaded == table and list(loaded) == WORDS and loaded.get("日本") == 3
    assert not loaded.hashes.flags.writeable


def test_colliding_hashes_still_tell_strings_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """With every string hashed alike, lookups fall back to comparing bytes and still find the right one."""
    monkeypatch.setattr(strings, "_hashes", lambda encoded: np.zeros(len(encoded), dtype=np.uint64))
    monkeypatch.setattr(strings, "_hash", lambda raw: np.uint64(0))
    table = Strings.of(WORDS)
    assert [table.get(w) for w in WORDS] == list(range(len(WORDS))) and table.get("pier") is None
    assert table.places([*WORDS, "pier"]).tolist() == [*range(len(WORDS)), -1]
    with pytest.raises(ValueError, match="occurs twice"):
        Strings.of(["pier", "otter", "pier"])


def test_take_keeps_the_chosen_strings_in_the_order_given() -> None:
    table = Strings.of(WORDS)
    taken = table.take(np.array([3, 0, 6], dtype=np.int64))
    assert list(taken) == ["日本", "otter", "ça"] and taken == Strings.of(["日本", "otter", "ça"])
    assert taken.get("otter") == 1 and taken.get("harbour") is None
    assert list(table.take(np.zeros(0, dtype=np.int64))) == []


def test_postings_keep_their_terms_as_a_mapped_table(tmp_path: Path) -> None:
    postings = Postings.build(["otters on rocks", "stone bridge arches", "otters again"])
    postings.save(tmp_path)
    assert not (tmp_path / "vocab.json").exists()
    loaded = Postings.load(tmp_path)
    assert isinstance(loaded.vocab, Strings) and loaded.vocab == postings.vocab
    assert loaded.count("otter") == 2 and loaded.term("otter")[0].tolist() == [0, 2] and loaded.count("pier") == 0


def test_an_index_of_format_3_still_opens_and_its_next_fold_writes_format_4(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    """Format 3 kept the terms in vocab.json: it opens as it is, and the next fold writes the table and says 4."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "otters.txt").write_text("Otters came back to the harbour. Wardens counted otters.", encoding="utf-8")
    (corpus / "bridge.txt").write_text("The old stone bridge reopened on Monday after repairs.", encoding="utf-8")
    settings = Settings.of(corpus_dir=corpus, index_dir=tmp_path / "index", chunk_tokens=32, chunk_overlap=8).build
    build(settings, fake_encoder)
    folder = settings.index_dir
    expected = Archive.open(settings, fake_encoder).index.keyword.scores("otters bridge").tolist()
    keyword = folder / read_manifest(folder).files["keyword"]
    (keyword / "vocab.json").write_text(json.dumps(list(Postings.load(keyword).vocab)), encoding="utf-8")
    for name in Strings.files(VOCAB):
        (keyword / name).unlink()
    data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    (folder / MANIFEST).write_text(json.dumps({**data, "format_version": 3}), encoding="utf-8")

    archive = Archive.open(settings, fake_encoder)
    assert archive.index.keyword.scores("otters bridge").tolist() == expected
    archive.put([make_document("kite", "Kites filled the sky over the beach all weekend.")])
    archive.checkpoint()
    manifest = read_manifest(folder)
    assert manifest.format_version == FORMAT_VERSION == 4
    folded = folder / manifest.files["keyword"]
    assert not (folded / "vocab.json").exists() and all((folded / n).is_file() for n in Strings.files(VOCAB))
    reopened = Archive.open(settings, fake_encoder).index.keyword
    assert [s > 0 for s in reopened.scores("otters bridge").tolist()[: len(expected)]] == [s > 0 for s in expected]
    assert reopened.scores("kites").max() > 0 and isinstance(reopened.parts[0].vocab, Strings)
