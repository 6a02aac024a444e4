"""The optional ONNX int8 backend: agrees with the torch model, caches its export, gives batch-independent vectors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.base.errors import ConfigError
from qa.base.settings import DEFAULT_MODEL, Settings
from qa.store.embedding import SentenceEncoder
from qa.store.encoders import open_encoder
from qa.store.onnx_encoder import (
    FP32_FILE,
    INT8_FILE,
    META_FILE,
    RECIPE,
    VECTORS,
    OnnxEncoder,
    equal_length_batches,
    remove_leftovers,
)

TEXTS = [
    "hello world",
    "What did the minister say about the budget deficit?",
    "The quick brown fox jumps over the lazy dog.",
    "",
    "   ",
    "Café, naïve, résumé — “typeset” quotes and dashes.",
    "東京は日本の首都です。",
    "Ωμέγα and α-synuclein aggregates in Parkinson's disease.",
    "0-dimensional biomaterials lack inductive properties.",
    "1 in 5 million in UK have abnormal PrP positivity.",
    "https://example.com/path?query=1&x=y#frag",
    "def f(x):\n    return x ** 2  # code, not prose",
    "UPPER CASE HEADLINE: MARKETS FALL AS RATES RISE",
    "a " * 400,
    " ".join(f"word{i}" for i in range(300)),
    "The committee, which met on Tuesday, voted 7-2 to approve the plan, citing cost savings of $4.2bn.",
    "Opinion: cities should build more housing near transit, not less.",
    "Mitochondrial dysfunction is associated with insulin resistance in skeletal muscle. " * 6,
    "?",
    "Émile Zola's J'accuse…! was published in L'Aurore in 1898.",
]


@pytest.fixture(scope="session")
def onnx_encoder(onnx_cache: Path) -> OnnxEncoder:
    """The ONNX encoder over the session's cache."""
    return OnnxEncoder(DEFAULT_MODEL, onnx_cache)


def test_agrees_with_torch(onnx_encoder: OnnxEncoder, encoder: SentenceEncoder) -> None:
    got = onnx_encoder.encode(TEXTS)
    ref = encoder.encode(TEXTS)
    assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
    assert onnx_encoder.dimension == encoder.dimension == 384
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = (got * ref).sum(axis=1)
    assert cosines.min() >= 0.99, dict(zip(TEXTS, cosines.round(4), strict=True))  # 0.9931 (v4, no centring: 0.9870)
    # 0.9981 with smoothing and centring, 0.9973 with smoothing, 0.9950 without (bench/README.md "Encoder fidelity")
    assert cosines.mean() >= 0.9975


def test_tokens_match_torch(onnx_encoder: OnnxEncoder, encoder: SentenceEncoder) -> None:
    assert onnx_encoder.max_tokens == encoder.max_tokens == 256
    for text in TEXTS:
        assert onnx_encoder.count_tokens(text) == encoder.count_tokens(text)
        assert onnx_encoder.fits(text) == encoder.fits(text)
    assert not onnx_encoder.fits("a " * 400)


def test_empty_input(onnx_encoder: OnnxEncoder) -> None:
    assert onnx_encoder.encode([]).shape == (0, 384)


def test_fingerprint_differs_from_torch(onnx_encoder: OnnxEncoder, encoder: SentenceEncoder) -> None:
    assert onnx_encoder.fingerprint != encoder.fingerprint
    assert onnx_encoder.fingerprint == f"{encoder.fingerprint}:onnx-int8/{VECTORS}"
    assert f"/{VECTORS}/" in RECIPE or RECIPE.endswith(f"/{VECTORS}")  # the recipe names the vectors it gives


def test_same_text_same_vector_in_any_batch(onnx_cache: Path, onnx_encoder: OnnxEncoder) -> None:
    # Padded int8 batches put the same abstract up to ~0.01 (1 - cosine) apart; a text's vector must be bitwise
    # the same alone, among texts of other lengths, among texts of its own length (one run), in another order and
    # with another thread count.
    same = [f"The {animal} sat on the {thing} by the door." for animal in ("cat", "dog", "fox") for thing in
            ("mat", "rug", "bed")]  # fmt: skip
    texts = [*TEXTS, "Short.", "A sentence of middling length about a harbour.", TEXTS[0] + " " + TEXTS[-1], *same]
    lengths = [onnx_encoder.count_tokens(t) for t in same]
    assert len(set(lengths)) == 1  # so they share runs: the case batching must not change
    batch = onnx_encoder.encode(texts, batch_size=32)
    reordered = onnx_encoder.encode(texts[::-1], batch_size=4)[::-1]
    single = OnnxEncoder(DEFAULT_MODEL, onnx_cache, threads=1).encode(texts, batch_size=3)
    for i, text in enumerate(texts):
        alone = onnx_encoder.encode([text], batch_size=1)[0]
        assert np.array_equal(alone, batch[i]), text
        assert np.array_equal(reordered[i], batch[i]), text
        assert np.array_equal(single[i], batch[i]), text


def test_equal_length_batches() -> None:
    lengths = [5, 9, 5, 300, 5, 9, 300, 5]
    batches = equal_length_batches(lengths, 2)
    assert sorted(r for b in batches for r in b) == list(range(len(lengths)))
    assert all(len({lengths[r] for r in b}) == 1 and len(b) <= 2 for b in batches)
    assert [lengths[b[0]] for b in batches] == [300, 9, 5, 5]  # longest first
    assert equal_length_batches([3000] * 3, 32) == [[0], [1], [2]]  # token cap: long texts run alone


def test_cache_is_reused(onnx_cache: Path) -> None:
    before = {name: (onnx_cache / name).stat().st_mtime_ns for name in (INT8_FILE, META_FILE)}
    OnnxEncoder(DEFAULT_MODEL, onnx_cache)
    assert {name: (onnx_cache / name).stat().st_mtime_ns for name in before} == before
    assert sorted(p.name for p in onnx_cache.iterdir()) == sorted([INT8_FILE, META_FILE])  # no fp32 copy, no temp


def test_stale_cache_is_rebuilt(onnx_cache: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(onnx_cache, cache)
    meta = json.loads((cache / META_FILE).read_text())
    real = meta["weights_sha256"]
    (cache / META_FILE).write_text(json.dumps({**meta, "weights_sha256": "0" * 64}))
    before = (cache / INT8_FILE).stat().st_mtime_ns
    rebuilt = OnnxEncoder(DEFAULT_MODEL, cache)
    assert (cache / INT8_FILE).stat().st_mtime_ns != before
    assert json.loads((cache / META_FILE).read_text())["weights_sha256"] == real
    assert rebuilt.encode(["hello world"]).shape == (1, 384)
    assert not list(cache.glob(".tmp-*"))


def test_refuses_models_not_mean_pooled(tmp_path: Path) -> None:
    folder = tmp_path / "cls-model"
    (folder / "1_Pooling").mkdir(parents=True)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    with pytest.raises(ConfigError, match="mean"):
        OnnxEncoder(str(folder), tmp_path / "cache")


def test_settings_choose_the_backend(onnx_cache: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(onnx_cache, index_dir / "onnx")
    chosen = open_encoder(Settings.of(index_dir=index_dir, embed_backend="onnx").build)
    assert isinstance(chosen, OnnxEncoder) and chosen.cache_dir == index_dir / "onnx"
    assert Settings.from_env({"QA_EMBED_BACKEND": "onnx"}).build.embed_backend == "onnx"
    with pytest.raises(ConfigError, match="QA_EMBED_BACKEND"):
        Settings.of(embed_backend="tensorrt")


def dead_pid() -> int:
    """The id of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait(timeout=60)
    return child.pid


def leftovers(folder: Path) -> tuple[list[Path], list[Path]]:
    """Temporaries as a crashed export leaves them (dead pid), and a live writer's (this process) and others."""
    dead = dead_pid()
    crashed = [folder / f".tmp-{dead}-{FP32_FILE}", folder / f".tmp-{dead}-{INT8_FILE}"]
    kept = [folder / f".tmp-{os.getpid()}-being-written.onnx", folder / ".tmp-notes.txt", folder / "keep.txt"]
    for path in crashed + kept:
        path.write_bytes(b"\0" * 1024)
    return crashed, kept


def test_leftovers_of_dead_exports_are_removed_a_live_writer_s_kept(tmp_path: Path) -> None:
    crashed, kept = leftovers(tmp_path)
    remove_leftovers(tmp_path)
    assert [p for p in crashed if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []
    remove_leftovers(tmp_path / "absent")  # no cache folder yet: nothing to do


@pytest.mark.parametrize("stale", [False, True], ids=["fresh-cache", "re-export"])
def test_opening_removes_leftovers_of_a_crashed_export(onnx_cache: Path, tmp_path: Path, stale: bool) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(onnx_cache, cache)
    if stale:
        (cache / META_FILE).unlink()
    crashed, kept = leftovers(cache)
    OnnxEncoder(DEFAULT_MODEL, cache)
    assert [p for p in crashed if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []
    assert (cache / META_FILE).is_file()
