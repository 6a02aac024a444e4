"""Index files locked in memory (QA_LOCK_INDEX): the snapshot served is locked, a replaced one let go."""

from __future__ import annotations

import gc
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import WITHOUT_IPC_LOCK, FakeEncoder, locked_bytes, snapshot_bytes

from qa.base.settings import Settings
from qa.store.archive import Archive, read
from qa.store.corpus import make_document
from qa.store.keyword import VOCAB
from qa.store.manifest import read_manifest
from qa.store.mapping import gather, mapped, read_slice
from qa.store.part import locked_files
from qa.store.pinning import pin
from qa.store.snapshot import build
from qa.store.strings import Strings

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
        corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", chunk_tokens=64, chunk_overlap=8, lock_index="all"
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
        " lock_index='all')\n"
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
    plain = settings.replace(lock_index="off", dense_threshold=100).build
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
        " dense_threshold=100, lock_index='all')\n"
        "a = archive.Archive.open(s.build, FakeEncoder())\n"
        "old = a.index.manifest.generation\n"
        "out = a.put([make_document('new', 'Volcano glacier penguin telescope.')])\n"
        "print(out[0].status, 'new' in a.index.documents, a.index.manifest.generation == old,"
        " read_manifest(Path(sys.argv[1])).generation == old)\n"
    )
    done = limited_to(snapshot_bytes(chosen.build.index_dir) * 3 // 2, script, chosen)
    assert done.stdout.split() == ["added", "True", "True", "True"], done.stdout + done.stderr
    assert "the journal was not folded into a new snapshot: QA_LOCK_INDEX: could not lock" in done.stderr
    reopened = read(chosen.replace(lock_index="off").build)
    assert (
        "new" in reopened.documents
        and reopened.manifest.generation == read_manifest(settings.build.index_dir).generation
    )


def test_the_search_scope_locks_the_dense_index_and_row_tables_once_and_reads_them_without_system_calls(
    settings: Settings, fake_encoder: FakeEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`search`: the dense index, its re-score vectors and the row tables, not texts, sentence vectors or postings,
    each table mapped once (the part reads the locked bytes); a dense search then reads its re-score rows from
    memory (no pread) and finds what an unlocked index finds."""
    chosen = settings.replace(dense_threshold=100, lock_index="search").build
    build(chosen, fake_encoder)
    gc.collect()
    folder, before = chosen.index_dir, locked_bytes()
    files = read_manifest(folder).files
    index = read(chosen)
    assert index.manifest.dense.kind == "ivfpq"
    locked = locked_files(folder, files, "search")
    tables = ("doc.npy", "start.npy", "end.npy", "text_at.npy", *Strings.files("doc_ids"))
    assert {p.relative_to(folder).as_posix() for p in locked} == {
        files["dense"], files["vectors"],
        *(f"{files[role]}/{table}" for role in ("passages", "sentences") for table in tables),
        f"{files['keyword']}/indptr.npy", f"{files['keyword']}/lengths.npy",
        *(f"{files['keyword']}/{name}" for name in Strings.files(VOCAB)),
    }  # fmt: skip
    assert locked_bytes() - before == snapshot_bytes(folder, "search") < snapshot_bytes(folder) // 2
    maps = Path("/proc/self/maps").read_text().splitlines()
    for path in locked:
        if path.parent != folder:  # a table, read through its mapping (re-score rows are read by row, from the lock)
            assert sum(line.endswith(str(path)) for line in maps) == 1, path
    query = fake_encoder.encode(["harbour otter bridge"])[0]

    def no_system_call(*args: object) -> None:
        raise AssertionError("read with a system call")

    with monkeypatch.context() as patched:
        patched.setattr(os, "preadv", no_system_call)
        patched.setattr(os, "pread", no_system_call)
        found = index.dense_search(query, 10)
    del index
    gc.collect()
    assert locked_bytes() == before
    unlocked = read(settings.replace(dense_threshold=100, lock_index="off").build)
    assert unlocked.dense_search(query, 10) == found
    with monkeypatch.context() as patched, pytest.raises(AssertionError, match="system call"):
        patched.setattr(os, "preadv", no_system_call)
        unlocked.dense_search(query, 10)


def test_reads_of_a_locked_file_come_from_memory_and_go_back_to_pread_when_let_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = np.arange(64 * 1024, dtype=np.float32).reshape(-1, 16)
    np.save(tmp_path / "table.npy", table)
    np.save(tmp_path / "flat.npy", table.reshape(-1))
    rows, flat = mapped(tmp_path / "table.npy"), mapped(tmp_path / "flat.npy")
    picked = np.array([3, 4, 900, 4095], dtype=np.int64)
    calls: list[str] = []

    def counted(call: Any) -> Any:
        def run(*args: Any) -> Any:
            calls.append(call.__name__)
            return call(*args)

        return run

    monkeypatch.setattr(os, "preadv", counted(os.preadv))
    monkeypatch.setattr(os, "pread", counted(os.pread))
    pinned = pin([tmp_path / "table.npy", tmp_path / "flat.npy"])
    assert np.array_equal(gather(rows, picked), table[picked])
    assert np.array_equal(read_slice(flat, 100, 5000), table.reshape(-1)[100:5000])
    assert calls == []
    pinned.release()
    assert np.array_equal(gather(rows, picked), table[picked])
    assert np.array_equal(read_slice(flat, 100, 5000), table.reshape(-1)[100:5000])
    assert "preadv" in calls and "pread" in calls
