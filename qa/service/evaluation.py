"""Evaluation through the service: a question set or conversations asked of an engine, a BEIR benchmark in memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qa.base.settings import Settings
from qa.evaluation.benchmark import BeirResult, run_beir
from qa.evaluation.followups import FollowUp, FollowUpReport, evaluate_followups, holds_followups, load_followups
from qa.evaluation.questions import Question, Report, evaluate, load_questions
from qa.retrieval.rerank import open_reranker
from qa.service import lifecycle
from qa.service.engine import Engine

__all__ = [
    "BeirResult",
    "FollowUp",
    "FollowUpReport",
    "Question",
    "Report",
    "beir",
    "followups",
    "holds_followups",
    "load_followups",
    "load_questions",
    "questions",
]


def questions(engine: Engine, asked: list[Question], top_k: int) -> Report:
    """Ask every question of the engine and score passage hits, answers and abstentions."""
    return evaluate(asked, lambda q: engine.ask(q, top_k=top_k))


def followups(engine: Engine, conversations: list[FollowUp], top_k: int) -> FollowUpReport:
    """Ask every conversation of the engine turn by turn (each with the turns before it) and score its last answer."""
    return evaluate_followups(conversations, lambda q, history: engine.ask(q, top_k=top_k, history=history))


def beir(
    settings: Settings, folder: Path, split: str, *, run_out: Path | None, progress: Callable[[str], None]
) -> BeirResult:
    """Index a BEIR folder in memory with the production pipeline (and reranker, when set) and score a split."""
    encoder = lifecycle.open_encoder(settings, progress)
    return run_beir(
        folder, split, settings, encoder, progress=progress, run_out=run_out, reranker=open_reranker(settings.search)
    )
