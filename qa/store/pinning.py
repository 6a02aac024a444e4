"""Index files locked in memory (``mlock``), for a box whose kernel would otherwise page them out.

Requests read an index's files through the page cache, and the kernel may drop any of its pages: under memory
pressure, or, on virtual machines with proactive reclaim (this one's DAMON pages out what was not read for a minute),
whenever a page sits idle, so the first request to need it again waits on the disk. ``QA_LOCK_INDEX`` maps files of
the snapshot being served read-only and locks them: every file (``all``), or those every search reads at random
(``search``: the dense index, its re-score vectors and the row tables, 15% of a 1M index). The locked pages are
the page cache's own, one copy shared by every process serving the index (each worker's lock holds the same pages),
counted in each process's RSS as file pages and divided among them in PSS; while locked, a file is read from the
lock's mapping (qa/store/mapping.py), with no system call and no second mapping. The lock lasts as long as the
snapshot is served: it is let go when a newer one replaces it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import mmap
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from qa.base.errors import ConfigError, LockRefused
from qa.store.mapping import FileKey, drop_locked, hold_locked

ADVICE = "raise the locked-memory limit (`ulimit -l unlimited`, `docker run --ulimit memlock=-1`, systemd "
ADVICE += "`LimitMEMLOCK=infinity`) or lock less: QA_LOCK_INDEX=search (what every search reads) or off"


class Pinned:
    """Files mapped and locked in memory until :meth:`release` (or until collected); read from there meanwhile."""

    def __init__(self) -> None:
        self._maps: list[tuple[mmap.mmap, FileKey, npt.NDArray[np.uint8]]] = []
        self.size = 0

    def add(self, mm: mmap.mmap, key: FileKey) -> int:
        """Hold one more mapped file, its bytes read by qa/store/mapping.py; the address of its first byte."""
        data = np.frombuffer(mm, dtype=np.uint8)
        self._maps.append((mm, key, data))
        return int(data.ctypes.data)

    def serve(self) -> None:
        """Let reads of the files come from these locked bytes instead of system calls."""
        for _, key, data in self._maps:
            hold_locked(key, data)

    def release(self) -> None:
        """Unmap the files, which unlocks their pages (the page cache keeps them while the kernel can).

        A file's bytes still viewed (a read copying from them, a table of a part not yet collected) keep its
        mapping until the last view goes; then it is collected, and unmapped.
        """
        maps, self._maps = self._maps, []
        while maps:
            mm, key, data = maps.pop()
            drop_locked(key, data)
            del data
            with contextlib.suppress(BufferError):
                mm.close()


def pin(paths: Iterable[Path]) -> Pinned:
    """Lock every file at ``paths`` (a folder stands for the files in it) in memory, reading in what is not there,
    and read them from there until released.

    LockRefused, with all of them let go again, when the system refuses (the locked-memory limit, or no memory).
    """
    mlock = _mlock()
    files = [f for p in paths for f in (sorted(q for q in p.iterdir() if q.is_file()) if p.is_dir() else [p])]
    pinned = Pinned()
    try:
        for path in files:
            fd = os.open(path, os.O_RDONLY)
            try:
                stat = os.fstat(fd)
                if not stat.st_size:
                    continue
                mm = mmap.mmap(fd, stat.st_size, prot=mmap.PROT_READ)
            finally:
                os.close(fd)
            address = pinned.add(mm, (stat.st_dev, stat.st_ino))
            if mlock(ctypes.c_void_p(address), ctypes.c_size_t(stat.st_size)) != 0:
                err = ctypes.get_errno()
                raise LockRefused(
                    f"QA_LOCK_INDEX: could not lock {path.name} ({stat.st_size >> 20} MB) in memory after "
                    f"{pinned.size >> 20} MB of the index ({os.strerror(err)}): {ADVICE}"
                )
            pinned.size += stat.st_size
    except BaseException:
        pinned.release()
        raise
    pinned.serve()
    return pinned


def _mlock() -> Callable[[ctypes.c_void_p, ctypes.c_size_t], int]:
    """The C library's ``mlock``; a ConfigError where there is none."""
    try:
        call = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).mlock
    except (OSError, AttributeError, TypeError):
        raise ConfigError("QA_LOCK_INDEX: this system has no mlock to lock the index with; leave it unset") from None
    call.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    call.restype = ctypes.c_int
    return call
