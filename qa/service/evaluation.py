"""Evaluation through the service: a question set asked of an engine, a BEIR benchmark indexed in memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qa.base.settings import Settings
from qa.evaluation.benchmark import BeirResult, run_beir
from qa.evaluation.questions import Question, Report, evaluate, load_questions
from qa.retrieval.rerank import open_reranker
from qa.service import lifecycle
from qa.service.engine import Engine

__all__ = ["BeirResult", "Question", "Report", "beir", "load_questions", "questions"]


def questions(engine: Engine, asked: list[Question], top_k: int) -> Report:
    """Ask every question of the engine and score passage hits, answers and abstentions."""
    return evaluate(asked, lambda q: engine.ask(q, top_k=top_k))


def beir(
    settings: Settings, folder: Path, split: str, *, run_out: Path | None, progress: Callable[[str], None]
) -> BeirResult:
    """Index a BEIR folder in memory with the production pipeline (and reranker, when set) and score a split."""
    encoder = lifecycle.open_encoder(settings, progress)
    return run_beir(
        folder, split, settings, encoder, progress=progress, run_out=run_out, reranker=open_reranker(settings.search)
    )
