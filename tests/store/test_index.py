"""The on-disk index with the fake encoder: manifest, row alignment, refusals, generations, crash safety."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import faiss
import numpy as np
import pytest
from conftest import SEEDS

import qa.store.snapshot
from qa.base.errors import CorpusError, IndexMismatch, IndexMissing
from qa.base.files import TMP_PREFIX
from qa.base.settings import Settings
from qa.service.lifecycle import ensure
from qa.store.archive import read as load_index
from qa.store.embedding import Encoder
from qa.store.index import Index, dense_vectors, embed_input
from qa.store.manifest import FORMAT_VERSION, MANIFEST
from qa.store.onnx_encoder import BACKEND
from qa.store.snapshot import build
from qa.store.spans import Spans

GENERATED = ("dense-", "passages-", "documents-", "keyword-", "sentences-", "sentence-vectors-", "signatures-")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("002_f87bb952200a9f3a.txt", "003_3ad3cec4be3d9008.txt"):
        shutil.copy(SEEDS / name, corpus / name)
    return Settings.of(
        corpus_dir=corpus, index_dir=tmp_path / "index", chunk_tokens=64, chunk_overlap=16, embed_title=True
    )


def manifest_json(folder: Path) -> dict[str, object]:
    data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def generated_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.startswith(GENERATED)}


def add_article(settings: Settings, name: str = "005_new.txt") -> None:
    (settings.build.corpus_dir / name).write_text(
        "Otters return\n\nThe otters returned to the harbour in spring after twenty years away.\n", encoding="utf-8"
    )


@pytest.fixture
def other_model(fake_encoder: Encoder) -> Encoder:
    """The fake encoder under another weights fingerprint: a different model as far as the index can tell."""
    other = type(fake_encoder)()
    other.fingerprint = "fake-bow-v2"
    return other


def test_build_writes_manifest_and_named_files(settings: Settings, fake_encoder: Encoder) -> None:
    index = build(settings.build, fake_encoder)
    data = manifest_json(settings.build.index_dir)
    assert data["format_version"] == FORMAT_VERSION
    assert data["model"] == fake_encoder.name
    assert data["model_sha256"] == fake_encoder.fingerprint
    assert data["dimension"] == fake_encoder.dimension
    assert data["encoding"] == settings.build.encoding
    assert (data["chunk_tokens"], data["chunk_overlap"], data["embed_title"]) == (64, 16, True)
    assert data["corpus_dir"] == str(settings.build.corpus_dir)
    assert isinstance(data["corpus_sha256"], str) and len(data["corpus_sha256"]) == 64
    assert data["documents"] == 2
    assert data["passages"] == len(index.passages) > 10
    assert data["generation"] == index.manifest.generation
    files = data["files"]
    assert isinstance(files, dict) and set(files) == {
        "dense",
        "passages",
        "documents",
        "keyword",
        "sentences",
        "sentence_vectors",
        "signatures",
    }
    for name in files.values():
        assert str(index.manifest.generation) in name
        assert (settings.build.index_dir / name).exists(), name
    assert (settings.build.index_dir / files["keyword"]).is_dir()
    assert generated_files(settings.build.index_dir) == set(files.values())
    assert not [p for p in settings.build.index_dir.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_passage_row_i_is_vector_i(settings: Settings, fake_encoder: Encoder) -> None:
    index = build(settings.build, fake_encoder)
    files = index.manifest.files
    passages = list(Spans.load(settings.build.index_dir / files["passages"]))
    lines = (settings.build.index_dir / files["documents"]).read_text().splitlines()
    docs = {d["id"]: d for d in map(json.loads, lines)}
    dense = faiss.read_index(str(settings.build.index_dir / files["dense"]))
    assert dense.ntotal == len(passages) == len(index.passages)
    for i, p in enumerate(passages):
        doc = docs[p.doc_id]
        assert doc["text"][p.start : p.end] == p.text
        expected = fake_encoder.encode([embed_input(doc["title"], p.text, True)])[0]
        np.testing.assert_allclose(dense.reconstruct(i), expected, atol=1e-6)
    assert passages == index.passages


def test_keyword_row_i_is_passage_i(settings: Settings, fake_encoder: Encoder) -> None:
    index = load_after_build(settings, fake_encoder)
    for i in (0, len(index.passages) // 2, len(index.passages) - 1):
        scores = index.keyword.scores(index.passages[i].text)
        assert int(np.argmax(scores)) == i or scores[i] == pytest.approx(scores.max())


def load_after_build(settings: Settings, encoder: Encoder) -> Index:
    build(settings.build, encoder)
    return load_index(settings.build, encoder)


def test_load_round_trips(settings: Settings, fake_encoder: Encoder) -> None:
    built = build(settings.build, fake_encoder)
    loaded = load_index(settings.build, fake_encoder)
    assert loaded.manifest == built.manifest
    assert loaded.passages == built.passages
    assert loaded.documents == built.documents
    assert loaded.keyword.size == len(loaded.passages)
    rows = list(range(len(built.passages)))
    np.testing.assert_array_equal(dense_vectors(loaded, rows), dense_vectors(built, rows))
    query = "Balaach Mola Bakhsh killed by the Counter-Terrorism Department"
    np.testing.assert_allclose(loaded.keyword.scores(query), built.keyword.scores(query), rtol=1e-6)
    assert dense_vectors(loaded, []).shape == (0, fake_encoder.dimension)
    assert loaded.title("003_3ad3cec4be3d9008") == "Pakistan: another Marxist is missing"


def test_load_refuses_another_model(settings: Settings, fake_encoder: Encoder, other_model: Encoder) -> None:
    build(settings.build, fake_encoder)
    with pytest.raises(IndexMismatch, match="qa index") as info:
        load_index(settings.build, other_model)
    assert "fake-bow" in str(info.value)


def test_same_weights_on_another_backend_is_named(settings: Settings, fake_encoder: Encoder) -> None:
    digest = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    torch_like, onnx_like = type(fake_encoder)(), type(fake_encoder)()
    torch_like.fingerprint, onnx_like.fingerprint = digest, f"{digest}:onnx-int8"
    build(settings.build, torch_like)
    with pytest.raises(IndexMismatch) as info:
        load_index(settings.build, onnx_like)
    assert "torch backend" in str(info.value) and "onnx-int8 backend" in str(info.value)


def test_same_weights_by_an_older_onnx_recipe_is_named(settings: Settings, fake_encoder: Encoder) -> None:
    digest = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    older, current = type(fake_encoder)(), type(fake_encoder)()
    older.fingerprint, current.fingerprint = f"{digest}:onnx-int8", f"{digest}:{BACKEND}"  # before recipes were named
    build(settings.build, older)
    with pytest.raises(IndexMismatch, match="qa index") as info:
        load_index(settings.build, current)
    assert "onnx-int8 backend" in str(info.value) and f"{BACKEND} backend" in str(info.value)


def test_load_refuses_other_chunk_settings(settings: Settings, fake_encoder: Encoder) -> None:
    build(settings.build, fake_encoder)
    with pytest.raises(IndexMismatch, match="qa index") as info:
        load_index(settings.replace(chunk_tokens=128).build, fake_encoder)
    assert "chunk_tokens" in str(info.value)
    with pytest.raises(IndexMismatch, match="embed_title"):
        load_index(settings.replace(embed_title=False).build, fake_encoder)


def test_load_refuses_a_changed_corpus(settings: Settings, fake_encoder: Encoder) -> None:
    build(settings.build, fake_encoder)
    add_article(settings)
    with pytest.raises(IndexMismatch, match="qa index") as info:
        load_index(settings.build, fake_encoder)
    assert "corpus" in str(info.value) and "changed" in str(info.value)
    assert load_index(settings.build, fake_encoder, check_corpus=False).manifest.documents == 2


def test_load_refuses_another_format_version(settings: Settings, fake_encoder: Encoder) -> None:
    build(settings.build, fake_encoder)
    path = settings.build.index_dir / MANIFEST
    data = manifest_json(settings.build.index_dir)
    data["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexMismatch, match="qa index") as info:
        load_index(settings.build, fake_encoder)
    assert "format version" in str(info.value)


def test_unreadable_manifest_is_a_mismatch_and_can_be_rebuilt(settings: Settings, fake_encoder: Encoder) -> None:
    build(settings.build, fake_encoder)
    (settings.build.index_dir / MANIFEST).write_text('{"format_version": 2, "from": "the future"}', encoding="utf-8")
    with pytest.raises(IndexMismatch, match="qa index"):
        load_index(settings.build, fake_encoder)
    rebuilt = ensure(settings, fake_encoder).index
    assert load_index(settings.build, fake_encoder).manifest.generation == rebuilt.manifest.generation


def test_damaged_index_is_a_mismatch(settings: Settings, fake_encoder: Encoder) -> None:
    index = build(settings.build, fake_encoder)
    (settings.build.index_dir / index.manifest.files["passages"] / "text.bin").write_text("", encoding="utf-8")
    with pytest.raises(IndexMismatch, match="qa index"):
        load_index(settings.build, fake_encoder)
    (settings.build.index_dir / index.manifest.files["dense"]).unlink()
    with pytest.raises(IndexMismatch, match="damaged"):
        load_index(settings.build, fake_encoder)


def test_missing_index(tmp_path: Path, settings: Settings, fake_encoder: Encoder) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(IndexMissing, match="qa index"):
        load_index(dataclasses.replace(settings.build, index_dir=empty), fake_encoder)
    with pytest.raises(IndexMissing):
        load_index(dataclasses.replace(settings.build, index_dir=tmp_path / "absent"), fake_encoder)


def test_rebuild_keeps_current_and_previous_generation(settings: Settings, fake_encoder: Encoder) -> None:
    folder = settings.build.index_dir
    first = build(settings.build, fake_encoder).manifest
    second = build(settings.build, fake_encoder).manifest
    assert generated_files(folder) == {*first.files.values(), *second.files.values()}
    third = build(settings.build, fake_encoder).manifest
    assert len({first.generation, second.generation, third.generation}) == 3
    assert generated_files(folder) == {*second.files.values(), *third.files.values()}
    assert manifest_json(folder)["generation"] == third.generation


def test_failed_build_leaves_previous_index_loadable(
    settings: Settings, fake_encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = settings.build.index_dir
    old = build(settings.build, fake_encoder)
    add_article(settings)
    real_write = qa.store.snapshot.write_manifest

    def crash_before_the_switch(target: Path, manifest: object) -> None:
        (target / (TMP_PREFIX + "999-manifest.json")).write_text("{", encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(qa.store.snapshot, "write_manifest", crash_before_the_switch)
    with pytest.raises(OSError, match="disk full"):
        build(settings.build, fake_encoder)
    assert any(p.name.startswith("passages-") and old.manifest.generation not in p.name for p in folder.iterdir()), (
        "the crash happened after the new files were written"
    )

    kept = load_index(dataclasses.replace(settings.build, index_dir=folder), fake_encoder, check_corpus=False)
    assert kept.manifest.generation == old.manifest.generation
    assert kept.passages == old.passages
    assert set(kept.documents) == set(old.documents)
    with pytest.raises(IndexMismatch, match="changed"):
        load_index(dataclasses.replace(settings.build, index_dir=folder), fake_encoder)

    monkeypatch.setattr(qa.store.snapshot, "write_manifest", real_write)
    new = build(settings.build, fake_encoder)
    loaded = load_index(dataclasses.replace(settings.build, index_dir=folder), fake_encoder)
    assert loaded.manifest.generation == new.manifest.generation
    assert "005_new" in loaded.documents
    assert not [p for p in folder.iterdir() if p.name.startswith(TMP_PREFIX)]
    assert generated_files(folder) == {*old.manifest.files.values(), *new.manifest.files.values()}


def test_failed_faiss_write_leaves_previous_index(
    settings: Settings, fake_encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = build(settings.build, fake_encoder)

    def broken(index: faiss.Index, path: str) -> None:
        Path(path).write_bytes(b"partial")
        raise RuntimeError("killed")

    monkeypatch.setattr(faiss, "write_index", broken)
    with pytest.raises(RuntimeError, match="killed"):
        build(settings.build, fake_encoder)
    assert not [p for p in settings.build.index_dir.iterdir() if p.name.startswith(TMP_PREFIX)]
    assert load_index(settings.build, fake_encoder).manifest == old.manifest


def test_ensure_builds_when_missing_loads_when_current_rebuilds_when_stale(
    settings: Settings, fake_encoder: Encoder, other_model: Encoder
) -> None:
    messages: list[str] = []
    first = ensure(settings, fake_encoder, progress=messages.append).index
    assert any("building" in m for m in messages)
    messages.clear()
    again = ensure(settings, fake_encoder, progress=messages.append).index
    assert again.manifest.generation == first.manifest.generation
    assert messages == []
    add_article(settings)
    rebuilt = ensure(settings, fake_encoder, progress=messages.append).index
    assert rebuilt.manifest.generation != first.manifest.generation
    assert rebuilt.manifest.documents == 3
    other = ensure(settings, other_model).index
    assert other.manifest.model_sha256 == "fake-bow-v2"
    assert ensure(settings, other_model).index.manifest.generation == other.manifest.generation


def test_embed_input() -> None:
    assert embed_input("Title", "text", True) == "Title\ntext"
    assert embed_input("Title", "text", False) == "text"


def test_embed_title_off_puts_the_title_on_each_document_s_first_passage_only(
    settings: Settings, fake_encoder: Encoder
) -> None:
    plain = settings.replace(embed_title=False)
    index = build(plain.build, fake_encoder)
    for row, passage in enumerate(index.passages):
        first = row == 0 or index.passages[row - 1].doc_id != passage.doc_id
        text = embed_input(index.title(passage.doc_id), passage.text, first)
        np.testing.assert_allclose(index.vectors_of([row])[0], fake_encoder.encode([text])[0], atol=1e-6)
    assert len({p.doc_id for p in index.passages}) < len(index.passages)  # some documents have several passages


def test_corpus_without_article_text_is_a_corpus_error(tmp_path: Path, fake_encoder: Encoder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Share Tweet\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no article text"):
        build(Settings.of(corpus_dir=corpus, index_dir=tmp_path / "index").build, fake_encoder)


def test_build_skips_sources_without_article_text_and_says_so(settings: Settings, fake_encoder: Encoder) -> None:
    corpus = settings.build.corpus_dir
    (corpus / "empty.txt").write_text("   \n", encoding="utf-8")
    (corpus / "binary.txt").write_bytes(bytes(range(32)) * 8)
    messages: list[str] = []
    index = build(settings.build, fake_encoder, progress=messages.append)
    assert set(index.documents) == {"002_f87bb952200a9f3a", "003_3ad3cec4be3d9008"}
    warnings = [m for m in messages if m.startswith("warning: skipped ")]
    assert len(warnings) == 2
    assert any(str(corpus / "empty.txt") in w and "no text" in w for w in warnings)
    assert any(str(corpus / "binary.txt") in w and "control characters" in w for w in warnings)
    assert load_index(settings.build, fake_encoder).manifest == index.manifest


def test_load_with_a_missing_corpus_folder_is_an_error(settings: Settings, fake_encoder: Encoder) -> None:
    build(settings.build, fake_encoder)
    gone = settings.replace(corpus_dir=settings.build.corpus_dir.parent / "moved")
    with pytest.raises(CorpusError, match="does not exist") as info:
        load_index(gone.build, fake_encoder)
    assert "QA_CORPUS_DIR" in str(info.value) and "moved" in str(info.value)
    assert len(load_index(gone.build, fake_encoder, check_corpus=False).documents) == 2
