"""Open the embedding model a deployment names, on the backend it names (torch, or ONNX Runtime int8)."""

from __future__ import annotations

from qa.base.settings import BuildSettings
from qa.store.embedding import Encoder, SentenceEncoder, quiet_transformers
from qa.store.onnx_encoder import THREADS, OnnxEncoder


def open_encoder(settings: BuildSettings, *, threads: int | None = None) -> Encoder:
    """The embedding model the settings name, loaded from disk only, without progress bars.

    ``threads`` caps the threads one text's inference uses (the ONNX session's; torch's for the process).
    """
    if settings.embed_backend == "onnx":
        # imports transformers only to export
        return OnnxEncoder(settings.model, settings.onnx_cache_dir, threads=threads or THREADS)
    quiet_transformers()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return SentenceEncoder(settings.model)
