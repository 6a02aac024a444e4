"""Open the embedding model a deployment names, on the backend it names (torch, or ONNX Runtime int8)."""

from __future__ import annotations

from qa.base.settings import BuildSettings, cores
from qa.store.embedding import Encoder, SentenceEncoder, quiet_transformers
from qa.store.onnx_encoder import THREADS, OnnxEncoder


def open_encoder(settings: BuildSettings, *, threads: int | None = None) -> Encoder:
    """The embedding model the settings name, loaded from disk only, without progress bars.

    ``threads`` (else ``QA_THREADS`` when set) caps the threads one text's inference uses, and FAISS's and BLAS's.
    """
    threads = threads or settings.threads or None
    if threads is not None:
        limit_threads(threads)
    if settings.embed_backend == "onnx":
        # imports transformers only to export
        return OnnxEncoder(settings.model, settings.onnx_cache_dir, threads=threads or THREADS)
    quiet_transformers()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return SentenceEncoder(settings.model)


def limit_threads(threads: int) -> int:
    """Cap FAISS's OpenMP and the BLAS pools at ``threads`` (0: every core) so workers do not oversubscribe cores.

    OpenMP's count holds for the calling thread only; IVF-PQ work sets its own (``dense_index.faiss_threads``).
    """
    import faiss
    from threadpoolctl import threadpool_limits

    count = threads or cores()
    faiss.omp_set_num_threads(count)
    threadpool_limits(limits=count)
    return count
