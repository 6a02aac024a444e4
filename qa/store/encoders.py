"""Open the embedding model a deployment names, on the backend it names (torch, or ONNX Runtime int8)."""

from __future__ import annotations

from qa.base.settings import BuildSettings
from qa.store.embedding import Encoder, SentenceEncoder, quiet_transformers
from qa.store.onnx_encoder import OnnxEncoder


def open_encoder(settings: BuildSettings) -> Encoder:
    """The embedding model the settings name, loaded from disk only, without progress bars."""
    if settings.embed_backend == "onnx":
        return OnnxEncoder(settings.model, settings.onnx_cache_dir)  # imports transformers only to export
    quiet_transformers()
    return SentenceEncoder(settings.model)
