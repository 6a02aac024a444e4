"""Index files locked in memory (QA_LOCK_INDEX): the snapshot served is locked, a replaced one let go."""

from __future__ import annotations

import gc
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import WITHOUT_IPC_LOCK, FakeEncoder, locked_bytes, snapshot_bytes

from qa.base.settings import Settings
from qa.store.archive import Archive, read
from qa.store.corpus import make_document
from qa.store.manifest import read_manifest
from qa.store.pinning import pin
from qa.store.snapshot import build

WORDS = "harbour otter bridge march river council school market storm flood railway museum festival election".split()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Three hundred one-passage articles (enough for an IVF-PQ index from 100 passages), index locked in memory."""
    rng = random.Random(5)
    (tmp_path / "corpus").mkdir()
    lines = [
        json.dumps({"id": f"a{i:04d}", "title": f"Article {i}", "text": " ".join(rng.choices(WORDS, k=14)) + "."})
        for i in range(300)
    ]
    (tmp_path / "corpus" / "articles.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Settings.of(
        corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", chunk_tokens=64, chunk_overlap=8, lock_index=True
    )


def limited_to(limit: int, script: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with the index and corpus folders as arguments, without CAP_IPC_LOCK, ``limit`` bytes lockable."""
    shell = f'ulimit -l {limit >> 10} && exec {sys.executable} -c "$0" "$1" "$2"'
    folders = [str(settings.build.index_dir), str(settings.build.corpus_dir)]
    return subprocess.run(
        [*WITHOUT_IPC_LOCK, "sh", "-c", shell, script, *folders],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).parents[2],
    )


def test_pin_locks_every_file_and_release_lets_go(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.bin").write_bytes(os.urandom(1 << 20))
    (tmp_path / "folder" / "empty.bin").write_bytes(b"")
    (tmp_path / "b.bin").write_bytes(os.urandom(3 << 20))
    before = locked_bytes()
    pinned = pin([tmp_path / "folder", tmp_path / "b.bin"])
    assert pinned.size == 4 << 20
    assert locked_bytes() - before == 4 << 20
    pinned.release()
    assert locked_bytes() == before


def test_a_lock_the_system_refuses_is_a_config_error_saying_how_to_allow_it(
    settings: Settings, fake_encoder: FakeEncoder
) -> None:
    """Without CAP_IPC_LOCK and under a 64 KB limit, reading a locked snapshot fails, says why, and keeps no lock."""
    build(settings.build, fake_encoder)
    script = (
        "import sys; from pathlib import Path\n"
        "from qa.base.settings import Settings; from qa.store.archive import read\n"
        "s = Settings.of(index_dir=Path(sys.argv[1]), corpus_dir=Path(sys.argv[2]), chunk_tokens=64, chunk_overlap=8,"
        " lock_index=True)\n"
        "try:\n    read(s.build)\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n"
        "print([line for line in open('/proc/self/status') if line.startswith('VmLck')][0].split()[1])\n"
    )
    done = limited_to(64 << 10, script, settings)
    message, still_locked = done.stdout.strip().splitlines()
    assert message.startswith("LockRefused QA_LOCK_INDEX: could not lock "), done.stdout + done.stderr
    assert "ulimit -l unlimited" in message and "--ulimit memlock=-1" in message
    assert still_locked == "0"


def test_the_served_snapshot_is_locked_and_a_replaced_one_let_go(settings: Settings, fake_encoder: FakeEncoder) -> None:
    chosen = settings.replace(dense_threshold=100).build
    build(chosen, fake_encoder)
    gc.collect()
    before = locked_bytes()
    index = read(chosen)
    assert index.manifest.dense.kind == "ivfpq"
    first = snapshot_bytes(chosen.index_dir)
    assert locked_bytes() - before == first
    del index
    gc.collect()
    assert locked_bytes() == before
    archive = Archive.open(chosen, fake_encoder)
    archive.put([make_document("new", "Volcano glacier penguin telescope orchestra submarine lighthouse.")])
    old = archive.index.manifest.generation
    archive.checkpoint()  # a new generation: served from its files, locked; the old one's lock let go
    gc.collect()
    assert archive.index.manifest.generation != old
    assert locked_bytes() - before == snapshot_bytes(chosen.index_dir)


def test_a_flat_snapshot_locks_what_it_reads_from_its_files(settings: Settings, fake_encoder: FakeEncoder) -> None:
    build(settings.build, fake_encoder)
    gc.collect()
    before = locked_bytes()
    index = read(settings.build)
    assert index.manifest.dense.kind == "flat"
    assert locked_bytes() - before == snapshot_bytes(settings.build.index_dir)


def test_without_the_setting_nothing_is_locked(settings: Settings, fake_encoder: FakeEncoder) -> None:
    plain = settings.replace(lock_index=False, dense_threshold=100).build
    build(plain, fake_encoder)
    gc.collect()
    before = locked_bytes()
    index = read(plain)
    assert index.size == 300 and locked_bytes() == before


def test_a_fold_whose_lock_is_refused_keeps_the_write_and_the_old_snapshot(
    settings: Settings, fake_encoder: FakeEncoder
) -> None:
    """Room to lock one snapshot, not two: the write is kept (journaled, found), the old snapshot goes on serving."""
    chosen = settings.replace(dense_threshold=100)
    build(chosen.build, fake_encoder)
    script = (
        "import sys; from pathlib import Path\n"
        "sys.path.insert(0, 'tests'); from conftest import FakeEncoder\n"
        "from qa.base.settings import Settings; from qa.store import archive\n"
        "from qa.store.corpus import make_document; from qa.store.manifest import read_manifest\n"
        "archive.CHECKPOINT_MIN, archive.CHECKPOINT_SHARE = 1, 0.0  # every write folds\n"
        "s = Settings.of(index_dir=Path(sys.argv[1]), corpus_dir=Path(sys.argv[2]), chunk_tokens=64, chunk_overlap=8,"
        " dense_threshold=100, lock_index=True)\n"
        "a = archive.Archive.open(s.build, FakeEncoder())\n"
        "old = a.index.manifest.generation\n"
        "out = a.put([make_document('new', 'Volcano glacier penguin telescope.')])\n"
        "print(out[0].status, 'new' in a.index.documents, a.index.manifest.generation == old,"
        " read_manifest(Path(sys.argv[1])).generation == old)\n"
    )
    done = limited_to(snapshot_bytes(chosen.build.index_dir) * 3 // 2, script, chosen)
    assert done.stdout.split() == ["added", "True", "True", "True"], done.stdout + done.stderr
    assert "the journal was not folded into a new snapshot: QA_LOCK_INDEX: could not lock" in done.stderr
    reopened = read(chosen.replace(lock_index=False).build)
    assert (
        "new" in reopened.documents
        and reopened.manifest.generation == read_manifest(settings.build.index_dir).generation
    )
