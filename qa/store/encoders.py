"""Open the embedding model a deployment names, on the backend it names (torch, or ONNX Runtime int8)."""

from __future__ import annotations

import contextlib

from qa.base.settings import BuildSettings
from qa.store.embedding import Encoder, SentenceEncoder
from qa.store.onnx_encoder import OnnxEncoder


def open_encoder(settings: BuildSettings) -> Encoder:
    """The embedding model the settings name, loaded from disk only, without progress bars."""
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if settings.embed_backend == "onnx":
        return OnnxEncoder(settings.model, settings.onnx_cache_dir)
    return SentenceEncoder(settings.model)
