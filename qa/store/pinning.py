"""Index files locked in memory (``mlock``), for a box whose kernel would otherwise page them out.

Requests read an index's files through the page cache, and the kernel may drop any of its pages: under memory
pressure, or, on virtual machines with proactive reclaim (this one's DAMON pages out what was not read for a minute),
whenever a page sits idle, so the first request to need it again waits on the disk. ``QA_LOCK_INDEX=1`` maps each file
of the snapshot being served read-only and locks it: the locked pages are the page cache's own, one copy shared by
every process serving the index (each worker's lock holds the same pages), counted in each process's RSS as file pages
and divided among them in PSS. The lock lasts as long as the snapshot is served: it is let go when a newer one
replaces it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from qa.base.errors import ConfigError, LockRefused

ADVICE = "raise the locked-memory limit (`ulimit -l unlimited`, `docker run --ulimit memlock=-1`, systemd "
ADVICE += "`LimitMEMLOCK=infinity`) or leave QA_LOCK_INDEX unset"


class Pinned:
    """Files mapped and locked in memory until :meth:`release` (or until collected)."""

    def __init__(self, maps: list[mmap.mmap], size: int) -> None:
        self._maps = maps
        self.size = size

    def release(self) -> None:
        """Unmap the files, which unlocks their pages (the page cache keeps them while the kernel can)."""
        maps, self._maps = self._maps, []
        for mm in maps:
            mm.close()


def pin(paths: Iterable[Path]) -> Pinned:
    """Lock every file at ``paths`` (a folder stands for the files in it) in memory, reading in what is not there.

    LockRefused, with all of them let go again, when the system refuses (the locked-memory limit, or no memory).
    """
    mlock = _mlock()
    files = [f for p in paths for f in (sorted(q for q in p.iterdir() if q.is_file()) if p.is_dir() else [p])]
    maps, size = [], 0
    try:
        for path in files:
            fd = os.open(path, os.O_RDONLY)
            try:
                length = os.fstat(fd).st_size
                if not length:
                    continue
                mm = mmap.mmap(fd, length, prot=mmap.PROT_READ)
            finally:
                os.close(fd)
            maps.append(mm)
            view = np.frombuffer(mm, dtype=np.uint8)
            address = view.ctypes.data
            del view  # no export may outlive this step, or the map could not be closed
            if mlock(ctypes.c_void_p(address), ctypes.c_size_t(length)) != 0:
                err = ctypes.get_errno()
                raise LockRefused(
                    f"QA_LOCK_INDEX: could not lock {path.name} ({length >> 20} MB) in memory after "
                    f"{size >> 20} MB of the index ({os.strerror(err)}): {ADVICE}"
                )
            size += length
    except BaseException:
        Pinned(maps, size).release()
        raise
    return Pinned(maps, size)


def _mlock() -> Callable[[ctypes.c_void_p, ctypes.c_size_t], int]:
    """The C library's ``mlock``; a ConfigError where there is none."""
    try:
        call = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).mlock
    except (OSError, AttributeError, TypeError):
        raise ConfigError("QA_LOCK_INDEX: this system has no mlock to lock the index with; leave it unset") from None
    call.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    call.restype = ctypes.c_int
    return call
