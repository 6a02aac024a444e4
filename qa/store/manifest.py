"""The index manifest: what an index was built from and with, and how it differs from the running settings."""

from __future__ import annotations

from pathlib import Path

import msgspec

from qa.base.errors import IndexMismatch, IndexMissing
from qa.base.settings import BuildSettings
from qa.store.corpus import corpus_hash
from qa.store.dense_index import DenseInfo, kind_for
from qa.store.embedding import Encoder

FORMAT_VERSION = 4  # 4: BM25 terms and document ids are mapped string tables (qa.store.strings), not JSON lists
READABLE = (3, 4)  # versions this one opens: older layouts are read as they are
MANIFEST = "manifest.json"
REBUILD = "rebuild it with `qa index` (or `make serve`, which rebuilds a stale index)"


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """What an index was built from and with; loading compares it to the running settings.

    ``journal`` names the write-ahead log of writes made since this snapshot; ``revision`` counts the writes the
    snapshot holds; ``living`` is true once a write changed the index, which then no longer mirrors a corpus folder;
    ``dense`` says which dense index the snapshot's part uses and its recall@10 against flat, measured at build.
    """

    format_version: int
    generation: str
    built_at: str
    model: str
    model_sha256: str
    dimension: int
    encoding: str
    chunk_tokens: int
    chunk_overlap: int
    embed_title: bool
    bm25_k1: float
    bm25_b: float
    corpus_dir: str
    corpus_sha256: str
    documents: int
    passages: int
    files: dict[str, str]
    build_seconds: float
    revision: int = 0
    journal: str = ""
    living: bool = False
    dense: DenseInfo = DenseInfo()


def read_manifest(folder: Path) -> Manifest:
    """The manifest in ``folder``, or a clear error when it is missing or unreadable."""
    path = folder / MANIFEST
    if not path.is_file():
        raise IndexMissing(f"no index in {folder} (no {MANIFEST}); build it with `qa index`")
    try:
        return msgspec.json.decode(path.read_bytes(), type=Manifest)
    except msgspec.DecodeError as exc:
        raise IndexMismatch(f"{path} is not a manifest this version can read ({exc}); {REBUILD}") from None


def mismatches(
    manifest: Manifest, settings: BuildSettings, encoder: Encoder | None, *, check_corpus: bool = True
) -> list[str]:
    """Each way the manifest differs from what the running service would build.

    ``check_corpus`` compares the corpus too: a missing corpus folder is then a CorpusError, not a silent match.
    """
    out = []
    if manifest.format_version not in READABLE:
        out.append(f"format version {manifest.format_version}, this version reads {' and '.join(map(str, READABLE))}")
    wanted = {
        "encoding": settings.encoding,
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap": settings.chunk_overlap,
        "embed_title": settings.embed_title,
        "bm25_k1": settings.bm25_k1,
        "bm25_b": settings.bm25_b,
    }
    for key, value in wanted.items():
        if getattr(manifest, key) != value:
            out.append(f"{key} is {getattr(manifest, key)!r} in the index but {value!r} in the settings")
    kind = kind_for(manifest.passages, settings.dense_index, settings.dense_threshold)
    if manifest.dense.kind != kind:
        out.append(
            f"the dense index is {manifest.dense.kind} but the settings choose {kind} for {manifest.passages} "
            f"passages (QA_DENSE_INDEX={settings.dense_index}, QA_DENSE_THRESHOLD={settings.dense_threshold})"
        )
    if encoder is not None:
        if manifest.model_sha256 != encoder.fingerprint:
            out.append(
                f"built with model {manifest.model!r} ({_short(manifest.model_sha256)}), "
                f"running {encoder.name!r} ({_short(encoder.fingerprint)})"
            )
        elif manifest.dimension != encoder.dimension:
            out.append(f"dimension {manifest.dimension} in the index, {encoder.dimension} from the model")
    if check_corpus and not manifest.living and manifest.corpus_sha256 != corpus_hash(settings.corpus_dir):
        out.append(f"the corpus in {settings.corpus_dir} changed since the index was built")
    return out


def _short(fingerprint: str) -> str:
    """A model fingerprint for messages: the hash's head plus any backend suffix (``abc123…:onnx-int8/v4``)."""
    digest, _, backend = fingerprint.partition(":")
    if digest == "name":  # a model known only by name: no hash to shorten
        return fingerprint
    return f"sha256 {digest[:12]}…" + (f", {backend} backend" if backend else ", torch backend")
