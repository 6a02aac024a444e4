"""Index files mapped read-only, not read: every process serving one index shares one copy in the page cache.

Snapshot files are written once under new names and never rewritten, so a mapping stays valid for as long as a
process holds it, even after a newer snapshot's garbage collection unlinks the file (Linux keeps its pages).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

# IndexFlatCodes (flat, PQ, scalar quantised) codes and IVF lists are mapped in place; nothing is ever added to them.
MMAP_FLAGS = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY


def mapped(path: Path, dtype: type[np.generic] | None = None) -> npt.NDArray[Any]:
    """An .npy array mapped read-only; copied only when stored as another type than ``dtype``."""
    array = np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
    return array if dtype is None or array.dtype == dtype else array.astype(dtype)


def read_dense(path: Path) -> faiss.Index:
    """A FAISS index written by ``faiss.write_index``, its vectors mapped."""
    return faiss.read_index(str(path), MMAP_FLAGS)
