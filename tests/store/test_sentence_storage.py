"""Sentence vectors on disk: float16 in new indexes, float32 tables written before still open and rank the same."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEncoder

from qa.base.settings import Settings
from qa.retrieval.search import search
from qa.store import snapshot
from qa.store.archive import Archive
from qa.store.index import Index
from qa.store.manifest import read_manifest

TEXTS = {
    "otters": "Otters returned to the harbour in spring after twenty years away. Fishermen counted twelve otters on "
    "the rocks by the old pier. The harbour master said the otters eat crabs and fish. The otters sleep in the reeds.",
    "bridge": "The old stone bridge reopened on Monday after two years of repairs. Engineers replaced the arches of "
    "the bridge and the council paid for the stone.",
    "march": "Protesters marched from Turbat to Quetta demanding answers about the killing. The march lasted ten "
    "days and thousands joined it on the road to Quetta.",
}
QUERIES = ["otters in the harbour", "stone bridge repairs", "march to Quetta", "what do otters eat", "arches"]


@pytest.fixture
def settings(tmp_path: Path, fake_encoder: FakeEncoder) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in TEXTS.items():
        (corpus / f"{name}.txt").write_text(text, encoding="utf-8")
    settings = Settings.of(
        corpus_dir=corpus, index_dir=tmp_path / "index", chunk_tokens=32, chunk_overlap=8, sentence_weight=0.5
    )
    snapshot.build(settings.build, fake_encoder)
    return settings


def top(index: Index, settings: Settings, encoder: FakeEncoder, query: str) -> list[tuple[str, int, float]]:
    hits = search(index, query, encoder.encode([query])[0], settings.search, 5)
    return [(h.passage.doc_id, h.passage.start, h.scores.sentence or 0.0) for h in hits]


def test_new_table_is_float16_and_an_older_float32_table_gives_the_same_top_passages(
    settings: Settings, fake_encoder: FakeEncoder, tmp_path: Path
) -> None:
    name = read_manifest(settings.build.index_dir).files["sentence_vectors"]
    on_disk = np.load(settings.build.index_dir / name, mmap_mode="r")
    assert on_disk.dtype == np.float16
    new = Archive.open(settings.build, fake_encoder).index
    exact = fake_encoder.encode([s.text for s in new.sentences.spans])
    np.testing.assert_allclose(np.asarray(on_disk, dtype=np.float32), exact, atol=1e-3)
    assert new.sentences.vectors_at([0, 1]).dtype == np.float32  # rows are scored in float32

    # The same index as written before float16: its sentence table is the encoder's float32 vectors.
    older = settings.replace(index_dir=tmp_path / "older")
    shutil.copytree(settings.build.index_dir, older.build.index_dir)
    (older.build.index_dir / name).unlink()
    np.save(older.build.index_dir / name, exact, allow_pickle=False)
    old = Archive.open(older.build, fake_encoder).index
    assert old.sentences.parts[0].vectors.dtype == np.float32
    assert old.sentences.live_count() == new.sentences.live_count() > 0
    sentence_signal = 0
    for query in QUERIES:
        got_new, got_old = top(new, settings, fake_encoder, query), top(old, older, fake_encoder, query)
        assert [h[:2] for h in got_new] == [h[:2] for h in got_old], query
        assert [h[2] for h in got_new] == pytest.approx([h[2] for h in got_old], abs=2e-3), query
        sentence_signal += sum(h[2] > 0 for h in got_new)
    assert sentence_signal, "the sentence table took part in the ranking"
    query, every = fake_encoder.encode([QUERIES[0]])[0], list(range(len(new.sentences.spans)))
    sims_new, sims_old = new.sentences.vectors_at(every) @ query, old.sentences.vectors_at(every) @ query
    assert sims_new.dtype == sims_old.dtype == np.float32
    np.testing.assert_allclose(sims_new, sims_old, atol=2e-3)
