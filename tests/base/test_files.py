"""Atomic writes and the build lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qa.base.errors import QAError
from qa.base.files import TMP_PREFIX, exclusive, remove, write_atomic, write_bytes_atomic


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_write_bytes_atomic_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    write_bytes_atomic(target, b"first")
    assert target.read_bytes() == b"first"
    write_bytes_atomic(target, b"second, longer content")
    assert target.read_bytes() == b"second, longer content"
    write_bytes_atomic(target, b"")
    assert target.read_bytes() == b""
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]


def test_failed_write_keeps_old_content_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    write_bytes_atomic(target, b"old")
    seen: list[Path] = []

    def half_write(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_bytes(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, half_write)
    assert seen and seen[0].parent == tmp_path and seen[0].name.startswith(TMP_PREFIX)
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_failed_folder_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "keyword"

    def half_folder(tmp: Path) -> None:
        tmp.mkdir()
        (tmp / "part.npy").write_bytes(b"x")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_atomic(target, half_folder)
    assert list(tmp_path.iterdir()) == []


def test_folder_is_written_atomically(tmp_path: Path) -> None:
    target = tmp_path / "keyword"

    def folder(tmp: Path) -> None:
        tmp.mkdir()
        (tmp / "a.json").write_text("{}")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.npy").write_bytes(b"\0\1")

    write_atomic(target, folder)
    assert (target / "a.json").read_text() == "{}"
    assert (target / "sub" / "b.npy").read_bytes() == b"\0\1"
    assert leftovers(tmp_path) == []


def test_stale_temp_file_from_a_crash_does_not_block_a_write(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    seen: list[Path] = []

    def record(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_bytes(b"fresh")

    write_atomic(target, record)
    stale = seen[0]
    stale.mkdir()  # a crashed earlier run left a folder under the very same temporary name
    (stale / "junk").write_bytes(b"junk")
    write_bytes_atomic(target, b"fresh again")
    assert target.read_bytes() == b"fresh again"
    assert leftovers(tmp_path) == []


def test_remove_handles_files_folders_and_absence(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "inner").write_text("y")
    remove(tmp_path / "f")
    remove(tmp_path / "d")
    remove(tmp_path / "never-existed")
    assert list(tmp_path.iterdir()) == []


def test_exclusive_refuses_a_second_holder(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    with exclusive(folder):
        assert folder.is_dir()
        with pytest.raises(QAError, match="another process is writing") as info, exclusive(folder):
            pass
        assert str(folder) in str(info.value)
    with exclusive(folder):
        pass  # released: a later build gets the lock


HOLD_LOCK = """
import sys
from pathlib import Path
from qa.base.files import exclusive
with exclusive(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_exclusive_refuses_another_process(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(QAError, match="another process"), exclusive(tmp_path):
            pass
    finally:
        proc.stdin.write("done\n")
        proc.stdin.close()
        proc.wait(10)
    assert proc.returncode == 0
    with exclusive(tmp_path):
        pass


def test_exclusive_releases_on_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError), exclusive(tmp_path):
        raise ValueError("build failed")
    with exclusive(tmp_path):
        pass
