"""Index files mapped read-only, not read: every process serving one index shares one copy in the page cache.

Snapshot files are written once under new names and never rewritten, so a mapping stays valid for as long as a
process holds it, even after a newer snapshot's garbage collection unlinks the file (Linux keeps its pages). Rows of
a file locked in memory (``QA_LOCK_INDEX``, qa/store/pinning.py) are read from the lock's own mapping, with no system
call; others with ``pread``.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading
import weakref
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

# Flat codes and IVF-PQ lists (codes and ids) are mapped in place, read-only; nothing is ever added to them.
# IO_FLAG_MMAP_IFC maps IVF lists too (views into the file, since faiss 1.11); faiss.IO_FLAG_MMAP must not be added:
# it maps IVF lists through a FILE reader, which the MMAP_IFC reader is not ("mmap only supported for File objects").
MMAP_FLAGS = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY


def mapped(path: Path, dtype: type[np.generic] | None = None) -> npt.NDArray[Any]:
    """An .npy array mapped read-only (a view of its locked bytes when its file is locked: one mapping, not two);
    copied only when stored as another type than ``dtype``."""
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    locked = _locked_array(path, array)
    array = np.asarray(randomly(array)) if locked is None else locked
    return array if dtype is None or array.dtype == dtype else array.astype(dtype)


def _locked_array(path: Path, array: Any) -> npt.NDArray[Any] | None:
    """The array a mapped .npy file holds, viewed in the file's locked bytes, when its file is locked."""
    if not _LOCKED or not isinstance(array, np.memmap) or not array.flags.c_contiguous or not array.nbytes:
        return None
    stat = os.stat(path)
    return _in_memory(array, int(array.offset), (stat.st_dev, stat.st_ino))


def randomly(array: Any) -> Any:
    """The mapped array, with no read-ahead: a cold scattered read brings in its own pages, not ~30 around each."""
    raw = getattr(array, "_mmap", None)
    if raw is not None and hasattr(mmap, "MADV_RANDOM"):
        raw.madvise(mmap.MADV_RANDOM)
    return array


def read_dense(path: Path) -> faiss.Index:
    """A FAISS index written by ``faiss.write_index`` (flat or IVF-PQ), its vectors or lists mapped."""
    return faiss.read_index(str(path), MMAP_FLAGS)


_FDS: dict[int, int] = {}  # id of a mapping -> a descriptor of its file, closed when the mapping is collected
_FDS_LOCK = threading.Lock()
FileKey = tuple[int, int]  # a file's device and inode
_PLACES: dict[int, tuple[int, int, FileKey]] = {}  # id of a mapped array -> its file's descriptor, offset and key
_LOCKED: dict[FileKey, list[npt.NDArray[np.uint8]]] = {}  # a file -> its bytes in memory locked by pinning.pin


def hold_locked(key: FileKey, data: npt.NDArray[np.uint8]) -> None:
    """Read the file ``key`` from ``data`` (its whole content, mapped and locked) until :func:`drop_locked`."""
    _LOCKED.setdefault(key, []).append(data)


def drop_locked(key: FileKey, data: npt.NDArray[np.uint8]) -> None:
    """Stop reading the file ``key`` from ``data`` (another lock of the same file may still hold it)."""
    held = _LOCKED.get(key, [])
    for i, item in enumerate(held):
        if item is data:
            del held[i]
            break
    if not held:
        _LOCKED.pop(key, None)


def _locked_bytes(key: FileKey) -> npt.NDArray[np.uint8] | None:
    """The newest locked copy of a file's bytes, if it is locked."""
    try:
        return _LOCKED[key][-1]
    except (KeyError, IndexError):  # not locked, or let go meanwhile
        return None


def _memmap_of(array: Any) -> np.memmap[Any, Any] | None:
    """The file mapping an array is a view of, if any."""
    while array is not None and not isinstance(array, np.memmap):
        array = getattr(array, "base", None)
    return array if isinstance(array, np.memmap) and getattr(array, "filename", None) else None


def _close(key: int) -> None:
    """Close the descriptor kept for a mapping that is gone."""
    with _FDS_LOCK:
        fd = _FDS.pop(key, None)
    if fd is not None:
        os.close(fd)


def _file_at(array: npt.NDArray[Any]) -> tuple[int, int, FileKey] | None:
    """An open descriptor of the file an array is mapped from, the file offset of its first byte and the file's key.

    The descriptor lives exactly as long as the mapping (the caller's array keeps it alive), so no other thread can
    close it mid-read; snapshot file names are never reused, so the name opens the mapped file or nothing. Found
    once per array (kept until the array is collected): a request reads the same few arrays ~60 times, and
    working it out again took ~6 us each (``__array_interface__`` builds a dict).
    """
    known = _PLACES.get(id(array))
    if known is not None:
        return known
    found = _find_file(array)
    if found is not None:
        _PLACES[id(array)] = found
        weakref.finalize(array, _PLACES.pop, id(array), None)  # before its id can be reused
    return found


def _find_file(array: npt.NDArray[Any]) -> tuple[int, int, FileKey] | None:
    """:func:`_file_at`, worked out."""
    mm = _memmap_of(array)
    if mm is None:
        return None
    key = id(mm)
    with _FDS_LOCK:
        fd = _FDS.get(key)
        if fd is None:
            try:
                fd = os.open(str(mm.filename), os.O_RDONLY)
            except OSError:  # unlinked by a newer snapshot's clean-up: read through the mapping
                return None
            _FDS[key] = fd
            weakref.finalize(mm, _close, key)
    start = array.__array_interface__["data"][0] - mm.__array_interface__["data"][0]
    stat = os.fstat(fd)
    return fd, int(mm.offset) + start, (stat.st_dev, stat.st_ino)


def _in_memory(array: npt.NDArray[Any], offset: int, key: FileKey) -> npt.NDArray[Any] | None:
    """The mapped ``array`` (its first byte at ``offset`` in file ``key``) in the locked copy of its file's bytes,
    when the file is locked."""
    data = _locked_bytes(key)
    if data is None:
        return None
    return data[offset : offset + array.nbytes].view(array.dtype).reshape(array.shape)


def gather(array: npt.NDArray[Any], rows: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """``array[rows]``, read from its file with ``pread`` when it is mapped: the rows are not mapped into the
    process, so reading scattered rows does not grow its memory by the pages around each (fault-around).

    Each run is read straight into the result (``preadv``): 640 cached rows 6.2 ms -> 3.2 ms. Runs are read at
    once while the page cache holds them (``RWF_NOWAIT``: no announcement, 640 cached rows 1.7-6.4 -> 1.5-2.4 ms);
    from the first that it does not, the rest are announced together (``POSIX_FADV_WILLNEED``), so the disk reads
    them in parallel (800 scattered cold rows of a 5.8 GB file 48-61 ms read one by one, 27-29 ms announced first).
    A file locked in memory is read from the lock's mapping (640 rows: no system call, ~0.05 ms).
    """
    where = _file_at(array) if array.ndim == 2 and array.flags.c_contiguous else None
    if where is None or not len(rows):
        return array[rows]
    locked = _in_memory(array, where[1], where[2])
    if locked is not None:
        return locked[rows]
    fd, offset, _ = where
    width = array.strides[0]
    out = np.empty((len(rows), *array.shape[1:]), dtype=array.dtype)
    into = out.reshape(-1).view(np.uint8).data
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    firsts, lasts = np.concatenate([[0], breaks]), np.concatenate([breaks, [len(rows)]])
    spans = zip((firsts * width).tolist(), (lasts * width).tolist(), strict=True)
    views = [into[lo:hi] for lo, hi in spans]
    places = (offset + rows[firsts] * width).tolist()
    cold = range(_read_cached(fd, views, places), len(views))  # from the first run not cached, all wait
    if len(cold) > 1 and hasattr(os, "posix_fadvise"):  # queue every cold read at once, then wait for each
        for i in cold:
            os.posix_fadvise(fd, places[i], len(views[i]), os.POSIX_FADV_WILLNEED)
    for i in cold:
        if os.preadv(fd, [views[i]], places[i]) != len(views[i]):
            raise OSError(f"short read of {len(views[i])} bytes at {places[i]} from a mapped file")
    return out


NOWAIT = getattr(os, "RWF_NOWAIT", 0)


def _read_cached(fd: int, views: list[memoryview], places: list[int]) -> int:
    """Read runs into their views in order while the page cache holds them (``RWF_NOWAIT``); how many were read."""
    done = 0
    if not NOWAIT:
        return done
    try:
        for view, place in zip(views, places, strict=True):
            if os.preadv(fd, [view], place, NOWAIT) != len(view):
                return done
            done += 1
    except OSError as exc:  # EAGAIN: not in the page cache; EOPNOTSUPP: a file system without the flag
        if exc.errno not in (errno.EAGAIN, errno.EOPNOTSUPP):
            raise
    return done


PREFETCH_STEP = 4 << 20
PREFETCH_SHARE = 0.5  # of the memory the kernel reports available: what prefetching may fill


def prefetch(paths: list[Path], budget: int | None = None) -> threading.Thread:
    """Ask the kernel to read whole files into the page cache (``POSIX_FADV_WILLNEED``), in a background thread.

    For the files requests read somewhere in (an IVF-PQ part's lists, re-score vectors, postings, sentence and
    passage tables): the first requests after a start then find them in the page cache instead of waiting on one
    disk read per row. A folder stands for the files in it. Files are read in the order given, while their sizes
    fit ``budget`` bytes (default: half the memory available now), so a box too small for the index reads only the
    first ones rather than pushing out what it needs. The page cache is the kernel's (shared by every process
    serving the index, given back under memory pressure); it is not the server's memory. Best effort: a file that
    cannot be opened is skipped, and so is a locked one (``QA_LOCK_INDEX``: in memory already).
    """
    files = [f for p in paths for f in (sorted(q for q in p.iterdir() if q.is_file()) if p.is_dir() else [p])]
    room = available_memory() * PREFETCH_SHARE if budget is None else budget

    def run() -> None:
        left = room
        for path in files:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:  # the kernel reads ahead at most a few MB per call
                stat = os.fstat(fd)
                if (stat.st_dev, stat.st_ino) in _LOCKED:  # in memory already (QA_LOCK_INDEX)
                    continue
                size = stat.st_size
                if size > left:
                    break
                left -= size
                for at in range(0, size, PREFETCH_STEP):
                    os.posix_fadvise(fd, at, PREFETCH_STEP, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass
            finally:
                os.close(fd)

    thread = threading.Thread(target=run, name="prefetch", daemon=True)
    if hasattr(os, "posix_fadvise"):
        thread.start()
    return thread


def available_memory() -> int:
    """Bytes of memory the kernel can give without swapping (``MemAvailable``; 0 when it cannot be read)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def read_slice(array: npt.NDArray[Any], lo: int, hi: int) -> npt.NDArray[Any]:
    """``array[lo:hi]`` of a 1-D array, read from its file with one ``pread`` when it is mapped (read-only).

    A posting list is a run of consecutive pages: faulted in through a mapping advised MADV_RANDOM, each page was
    its own disk read (and stayed in the process); one ``pread`` lets the kernel read the run at once.
    """
    data = _pread(array, lo, hi)
    return array[lo:hi] if data is None else np.frombuffer(data, dtype=array.dtype)


def read_bytes(array: npt.NDArray[np.uint8], lo: int, hi: int) -> bytes:
    """``array[lo:hi]`` as bytes, read from its file with ``pread`` when it is mapped (see :func:`gather`)."""
    data = _pread(array, lo, hi)
    return array[lo:hi].tobytes() if data is None else data


def _pread(array: npt.NDArray[Any], lo: int, hi: int) -> bytes | None:
    """Items ``lo..hi`` of a 1-D array read from its file with one ``pread``; None when it is not a mapped file."""
    where = _file_at(array) if array.ndim == 1 and array.flags.c_contiguous else None
    if where is None or hi <= lo:
        return None
    locked = _in_memory(array, where[1], where[2])
    if locked is not None:
        return locked[lo:hi].tobytes()
    size = array.itemsize
    data = os.pread(where[0], (hi - lo) * size, where[1] + lo * size)
    if len(data) != (hi - lo) * size:
        raise OSError(f"short read of items {lo}..{hi - 1} from a mapped file")
    return data
