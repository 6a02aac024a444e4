"""The MinHash signatures of a snapshot's originals (its documents that are not copies), kept in a file beside it.

A write finds the original a new article copies (``qa.store.duplicates``) among every original of the archive.
Computing their signatures means reading and shingling every document (minutes at a million passages), so a
snapshot stores them: ``signatures-GEN.npy``, one row of ``PERMUTATIONS`` uint64 per original in the order of the
documents file, listed in the manifest under ``signatures`` and memory-mapped at the first write. A snapshot saved
before the file existed still opens: its first write computes the signatures, as every write once did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from qa.base.errors import IndexMismatch
from qa.base.records import Document
from qa.store.document_file import DocumentFile
from qa.store.duplicates import PERMUTATIONS, Groups, Signatures, signatures
from qa.store.index import Index
from qa.store.layered import Layered, duplicates_of
from qa.store.manifest import REBUILD, Manifest

FILE = "signatures"  # the manifest's key


def originals(documents: Mapping[str, Document]) -> list[str]:
    """The ids of the documents that are not copies, in the mapping's order."""
    copies = duplicates_of(documents)
    return [doc_id for doc_id in documents if doc_id not in copies]


def groups_of(index: Index, folder: Path, threshold: float) -> Groups:
    """The originals of an index findable by a copy's text: the snapshot's signatures, then the writes since."""
    docs = index.documents
    base, hidden = (docs.base, docs.hidden) if isinstance(docs, Layered) else (docs, frozenset[str]())
    ids = originals(base)
    stored = load(folder, index.manifest, len(ids)) if isinstance(base, DocumentFile) else None
    found = stored if stored is not None else signatures(base[doc_id].text for doc_id in ids)
    groups = Groups(threshold, ids, found, text_of=lambda doc_id: docs[doc_id].text)
    for doc_id in hidden:
        groups.discard(doc_id)
    if isinstance(docs, Layered):
        for doc in docs.overlay.values():
            if doc.duplicate_of is None:
                groups.add(doc.id, doc.text)
    return groups


def load(folder: Path, manifest: Manifest, count: int) -> Signatures | None:
    """The snapshot's signatures memory-mapped (None when it has no such file), refusing a file that does not fit."""
    name = manifest.files.get(FILE)
    if not name:
        return None
    try:
        found = np.load(folder / name, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexMismatch(f"index in {folder} is damaged ({exc}); {REBUILD}") from None
    if found.dtype != np.uint64 or found.shape != (count, PERMUTATIONS):
        raise IndexMismatch(
            f"index in {folder} is inconsistent: {name} holds {found.dtype} signatures shaped {found.shape}, "
            f"expected uint64 ({count}, {PERMUTATIONS}) for its {count} originals; {REBUILD}"
        )
    out: Signatures = found
    return out


def for_save(documents: Mapping[str, Document], ids: Sequence[str], groups: Groups | None) -> Signatures:
    """The signatures of some originals: taken from ``groups`` where it holds them, computed otherwise."""
    out = np.zeros((len(ids), PERMUTATIONS), dtype=np.uint64)
    held = np.array([groups is not None and doc_id in groups for doc_id in ids], dtype=np.bool_)
    if groups is not None and held.any():
        out[held] = groups.signatures_of([d for d, h in zip(ids, held, strict=True) if h])
    missing = [d for d, h in zip(ids, held, strict=True) if not h]
    if missing:
        out[~held] = signatures(documents[doc_id].text for doc_id in missing)
    return out


def write(path: Path, found: Signatures) -> None:
    """Write signatures as a ``.npy`` file (the caller fsyncs it and switches the manifest)."""
    with path.open("wb") as fh:
        np.save(fh, np.ascontiguousarray(found, dtype=np.uint64), allow_pickle=False)
