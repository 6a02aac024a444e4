"""Atomic file writes: write aside, fsync, rename; the manifest is written last and commits a build."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from qa.base.errors import IndexBusy

TMP_PREFIX = ".tmp-"


def fsync_dir(folder: Path) -> None:
    """Flush a directory entry so a rename in it survives a crash."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """fsync every file below ``path`` and the folders holding them."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            with open(Path(root) / name, "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(Path(root))


def write_atomic(target: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` for a file or folder beside ``target``, fsync it, then rename it into place."""
    tmp = target.with_name(f"{TMP_PREFIX}{os.getpid()}-{target.name}")
    remove(tmp)
    try:
        write(tmp)
        fsync_tree(tmp) if tmp.is_dir() else _fsync_file(tmp)
        os.replace(tmp, target)
        fsync_dir(target.parent)
    finally:
        remove(tmp)


def write_bytes_atomic(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data`` atomically."""

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    write_atomic(target, write)


def _fsync_file(path: Path) -> None:
    """Flush one file's data to disk."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def remove(path: Path) -> None:
    """Delete a file or folder if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def exclusive(folder: Path, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the lock file in ``folder`` so two processes never write the same index at once.

    Waits up to ``wait`` seconds for another holder, then raises IndexBusy.
    """
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    with open(folder / ".lock", "w") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IndexBusy(
                        f"another process is writing the index in {folder}; retry when it has finished"
                    ) from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
