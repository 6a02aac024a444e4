"""Optional second-stage reranking of the top passages by a sentence-transformers CrossEncoder (off by default)."""

from __future__ import annotations

import logging
from typing import Protocol

import msgspec

from qa.base.errors import ConfigError
from qa.base.records import Hit
from qa.base.settings import SearchSettings
from qa.store.embedding import resolve_model


class Reranker(Protocol):
    """What reranking needs from a model: one relevance score per (query, passage) pair, higher is better."""

    name: str

    def score(self, query: str, texts: list[str]) -> list[float]:
        """Relevance of each text to the query."""
        ...


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder loaded from a local folder, never from the network."""

    def __init__(self, name: str, *, batch_size: int = 16) -> None:
        from sentence_transformers import CrossEncoder

        location = resolve_model(name)
        logging.getLogger("transformers").setLevel(logging.ERROR)
        try:
            self.model = CrossEncoder(str(location), device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"setting reranker (env QA_RERANKER) = {name!r} could not be loaded offline ({exc}); "
                "point it at a local CrossEncoder model folder, or unset it to rank without a reranker"
            ) from None
        self.name = name
        self.batch_size = batch_size

    def score(self, query: str, texts: list[str]) -> list[float]:
        """The cross-encoder's raw relevance score of each (query, text) pair."""
        if not texts:
            return []
        pairs = [(query, text) for text in texts]
        scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)
        return [float(s) for s in scores]


def open_reranker(settings: SearchSettings) -> Reranker | None:
    """The reranker the settings name, or None when reranking is off (the default)."""
    return CrossEncoderReranker(settings.reranker) if settings.reranker else None


def rerank(hits: list[Hit], query: str, reranker: Reranker, depth: int) -> list[Hit]:
    """The first ``depth`` hits reordered by reranker score (ties keep fused order), the rest after, renumbered."""
    head, tail = hits[:depth], hits[depth:]
    scores = reranker.score(query, [f"{h.title}\n{h.passage.text}" for h in head])
    order = sorted(range(len(head)), key=lambda i: (-scores[i], i))
    ranked = [_with(head[i], rank, scores[i]) for rank, i in enumerate(order, 1)]
    return ranked + [_with(h, rank, None) for rank, h in enumerate(tail, len(ranked) + 1)]


def _with(hit: Hit, rank: int, score: float | None) -> Hit:
    """A copy of the hit at a new rank, carrying its reranker score (every other score unchanged)."""
    return msgspec.structs.replace(hit, rank=rank, scores=msgspec.structs.replace(hit.scores, rerank=score))
