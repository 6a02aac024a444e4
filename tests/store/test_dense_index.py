"""Dense indexes by size: flat below the threshold, IVF-PQ above, recall in the manifest, memory-mapped, writable."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faiss
import numpy as np
import pytest
from conftest import FakeEncoder

from qa.base.errors import ConfigError, IndexMismatch
from qa.base.settings import Settings
from qa.store import dense_index
from qa.store.archive import Archive, read
from qa.store.corpus import make_document
from qa.store.manifest import read_manifest
from qa.store.part import flat
from qa.store.snapshot import build

WORDS = (
    "harbour otter bridge march river council school market storm flood railway museum festival election court "
    "hospital farmer fishing mountain desert library theatre factory airport village border treaty vaccine"
).split()
ARTICLES = 320


def corpus(folder: Path, articles: int = ARTICLES) -> None:
    """Short one-passage articles of shuffled words, as one JSON Lines file."""
    rng = random.Random(7)
    folder.mkdir()
    lines = []
    for i in range(articles):
        body = " ".join(rng.choice(WORDS) for _ in range(14))
        lines.append(json.dumps({"id": f"a{i:04d}", "title": f"Article {i}", "text": f"{body.capitalize()}."}))
    (folder / "articles.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    corpus(tmp_path / "corpus")
    return Settings.of(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", chunk_tokens=64, chunk_overlap=8)


def test_kind_switches_at_the_threshold(settings: Settings, fake_encoder: FakeEncoder) -> None:
    low = settings.replace(dense_threshold=ARTICLES + 1).build
    assert build(low, fake_encoder).manifest.dense.kind == "flat"
    assert dense_index.kind_for(ARTICLES, "auto", ARTICLES) == "ivfpq"
    assert dense_index.kind_for(dense_index.MIN_ROWS - 1, "ivfpq", 1) == "flat", "too few rows to train on"
    high = settings.replace(dense_threshold=ARTICLES).build
    index = build(high, fake_encoder)
    assert index.manifest.dense.kind == "ivfpq" and dense_index.is_compressed(index.base.dense)
    assert index.base.stored is not None and index.base.stored.dtype == np.float16


def test_recall_against_flat_is_written_to_the_manifest(settings: Settings, fake_encoder: FakeEncoder) -> None:
    build(settings.replace(dense_threshold=100).build, fake_encoder)
    dense = read_manifest(settings.build.index_dir).dense
    assert dense.kind == "ivfpq" and dense.recall_queries == 200 and dense.nprobe in dense_index.NPROBES
    assert dense.nprobe >= dense_index.probe_floor(dense.nlist)
    assert 0.5 <= dense.recall_at_10 <= 1.0 and dense.nlist >= 16 and dense.pq_m > 0
    written = json.loads((settings.build.index_dir / "manifest.json").read_text(encoding="utf-8"))
    assert written["dense"]["recall_at_10"] == dense.recall_at_10


def test_searches_probe_about_the_square_root_of_the_lists() -> None:
    """Real questions need more lists than held-out rows say: 16 of 256 (100k passages), 32 of 1,024 (1M)."""
    assert [dense_index.probe_floor(n) for n in (16, 64, 256, 1024, 4096)] == [4, 8, 16, 32, 64]


def test_ivfpq_finds_what_flat_finds_on_separated_clusters() -> None:
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((200, 64)).astype(np.float32)
    vectors = np.repeat(centres, 10, axis=0) + 0.05 * rng.standard_normal((2000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    dense, stored, info = dense_index.compress(vectors, lambda _msg: None)
    assert info.recall_at_10 >= 0.97
    queries = centres[:50] / np.linalg.norm(centres[:50], axis=1, keepdims=True)
    exact_scores, exact_rows = flat(vectors, 64).search(queries, 10)
    scores, rows = dense_index.search(dense, stored, queries, 10)
    for want, got in zip(exact_rows, rows, strict=True):
        assert set(want.tolist()) == set(got.tolist())
    np.testing.assert_allclose(scores, exact_scores, atol=2e-3)


def test_a_compressed_index_is_loaded_memory_mapped(settings: Settings, fake_encoder: FakeEncoder) -> None:
    build(settings.replace(dense_threshold=100).build, fake_encoder)
    threads = faiss.omp_get_max_threads()
    index = read(settings.replace(dense_threshold=100).build)
    assert isinstance(index.base.stored, np.memmap)
    lists = faiss.downcast_InvertedLists(faiss.extract_index_ivf(index.base.dense).invlists)
    filled = [i for i in range(lists.nlist) if lists.list_size(i)]
    assert filled and not any(lists.codes.at(i).is_owned for i in filled)  # views into the mapped file
    query = FakeEncoder().encode(["harbour otter bridge river"])[0]
    rows = [row for row, _ in index.dense_search(query, 10)]
    assert faiss.omp_get_max_threads() == threads  # neither reading nor searching changed FAISS's threads
    exact = np.argsort(-(index.base.vectors() @ query), kind="stable")[:10]
    assert len(set(rows) & set(exact.tolist())) >= 8


def test_writes_on_a_compressed_base_are_found_and_folded(settings: Settings, fake_encoder: FakeEncoder) -> None:
    chosen = settings.replace(dense_threshold=100).build
    build(chosen, fake_encoder)
    archive = Archive.open(chosen, fake_encoder)
    text = "Volcano glacier penguin telescope orchestra submarine lighthouse."
    archive.put([make_document("new", text)])
    archive.remove(["a0001"])
    query = FakeEncoder().encode([text])[0]
    top = archive.index.dense_search(query, 3)
    assert archive.index.passages[top[0][0]].doc_id == "new"
    assert all(archive.index.passages[row].doc_id != "a0001" for row, _ in archive.index.dense_search(query, 400))
    assert dense_index.is_compressed(archive.index.base.dense) and not dense_index.is_compressed(
        archive.index.recent.dense
    )
    archive.checkpoint()
    reopened = read(chosen)
    assert reopened.manifest.dense.kind == "ivfpq" and reopened.recent.size == 0
    assert reopened.passages[reopened.dense_search(query, 1)[0][0]].doc_id == "new"
    assert "a0001" not in reopened.documents and reopened.size == ARTICLES


def test_faiss_threads_are_set_for_the_block_in_the_calling_thread_only() -> None:
    threads = faiss.omp_get_max_threads()
    with ThreadPoolExecutor(1) as pool:
        elsewhere = pool.submit(faiss.omp_get_max_threads).result()
        with dense_index.faiss_threads(threads + 1):
            assert faiss.omp_get_max_threads() == threads + 1
            assert pool.submit(faiss.omp_get_max_threads).result() == elsewhere
    assert faiss.omp_get_max_threads() == threads


def test_a_kind_mismatch_fails_with_how_to_rebuild(settings: Settings, fake_encoder: FakeEncoder) -> None:
    build(settings.replace(dense_threshold=100).build, fake_encoder)
    with pytest.raises(IndexMismatch, match=r"dense index is ivfpq but the settings choose flat.*qa index"):
        read(settings.replace(dense_index="flat").build)
    with pytest.raises(ConfigError, match="QA_DENSE_INDEX"):
        Settings.from_env({"QA_DENSE_INDEX": "hnsw"})
