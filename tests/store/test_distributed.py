"""The stages of a distributed build, run in process: their shards merge into exactly what a normal build makes."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import numpy as np
import pytest
from conftest import SEEDS

from qa.base.errors import ConfigError, CorpusError
from qa.base.settings import Settings
from qa.store import shards
from qa.store.corpus import corpus_files
from qa.store.distributed import host_port
from qa.store.encoders import open_encoder
from qa.store.part import Part
from qa.store.snapshot import build, grouping


@pytest.fixture
def onnx_settings(tmp_path: Path, onnx_cache: Path) -> Settings:
    """ONNX settings over a copy of the seeds, the model's export already in the index folder."""
    shutil.copytree(SEEDS, tmp_path / "seeds")
    shutil.copytree(onnx_cache, tmp_path / "index" / "onnx")
    return Settings.of(corpus_dir=tmp_path / "seeds", index_dir=tmp_path / "index", embed_backend="onnx")


def stage_part(settings: Settings, staging: Path, per_shard: int) -> Part:
    """The seeds through read, chunk, embed and write as a batch engine would run them, then merged."""
    files = corpus_files(settings.build.corpus_dir)
    rows = shards.read_files({"file": np.arange(len(files)), "path": shards.column([str(p) for p in files])})
    docs, skipped = shards.file_documents([{k: rows[k][i] for k in rows} for i in range(len(files))])
    assert skipped == []
    indexed = [d for d in grouping(docs, settings.build.duplicate_threshold)[0] if d.duplicate_of is None]
    embed = type("Embed", (shards.Embed,), {"settings": settings.build})()
    written = []
    for first in range(0, len(indexed), per_shard):
        seqs = list(range(first, min(first + per_shard, len(indexed))))
        batch = {"seq": np.asarray(seqs), "doc": shards.column([msgspec.json.encode(indexed[i]) for i in seqs])}
        out = shards.write_shard(embed(shards.chunk(batch, settings.build)), str(staging), 384)
        written.append({k: out[k][0] for k in out})
    return shards.merge(written[::-1], len(indexed), 384)  # merging puts the shards in order


def test_shards_merge_into_the_normal_build(onnx_settings: Settings, tmp_path: Path) -> None:
    settings = onnx_settings
    normal = build(settings.build, open_encoder(settings.build)).base
    merged = stage_part(settings, tmp_path / "staging", per_shard=2)
    assert len(list((tmp_path / "staging").iterdir())) == 3  # five documents, two a shard
    assert merged.passages == normal.passages and len(merged.passages) > 20
    assert merged.sentences.spans == normal.sentences.spans
    assert np.array_equal(merged.vectors(), normal.vectors())  # batch-independent vectors: bit for bit
    # shards are written and read back (float16 sentence tables); the normal build's is float16 once saved
    assert merged.sentences.vectors.dtype == np.float16
    assert np.array_equal(merged.sentences.vectors, normal.sentences.vectors.astype(np.float16))
    assert merged.keyword.vocab == normal.keyword.vocab
    assert np.array_equal(merged.keyword.rows, normal.keyword.rows)
    assert np.array_equal(merged.keyword.tfs, normal.keyword.tfs)


def test_merge_refuses_missing_or_repeated_documents(onnx_settings: Settings, tmp_path: Path) -> None:
    rows = [{"first": 0, "count": 2, "passages": 3, "path": ""}, {"first": 3, "count": 2, "passages": 3, "path": ""}]
    with pytest.raises(CorpusError, match="skip or repeat"):
        shards.merge(rows, 5, 384)
    with pytest.raises(CorpusError, match="hold 2 of 5"):
        shards.merge(rows[:1], 5, 384)


def test_a_file_that_cannot_be_read_is_a_corpus_error(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe not utf-8")
    rows = shards.read_files({"file": np.arange(1), "path": shards.column([str(tmp_path / "bad.txt")])})
    with pytest.raises(CorpusError, match="not UTF-8"):
        shards.file_documents([{k: rows[k][0] for k in rows}])


@pytest.mark.parametrize(
    ("address", "expected"),
    [("10.0.0.5:6379", ("10.0.0.5", 6379)), ("ray://head:10001", ("head", 10001)), ("[::1]:6379", ("::1", 6379))],
)
def test_addresses(address: str, expected: tuple[str, int]) -> None:
    assert host_port(address) == expected


@pytest.mark.parametrize("address", ["head", "head:port", "head:0", ":6379", "head:70000"])
def test_bad_addresses(address: str) -> None:
    with pytest.raises(ConfigError, match="host:port"):
        host_port(address)
