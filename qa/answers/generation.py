"""Answers written by a language model over the retrieved passages: typed events, then checked citations."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from qa.answers.citations import check
from qa.answers.prompt import NO_ANSWER, build_prompt
from qa.base.records import Answer, Citation, Draft, Event, FinalEvent, PassagesEvent, TokenEvent
from qa.base.settings import AnswerSettings
from qa.models.extractive import ExtractiveModel
from qa.models.interface import LanguageModel, Prompt
from qa.store.chunking import TokenCounter
from qa.store.embedding import Encoder
from qa.store.index import Index

MODEL_DECLINED = "model_declined"


@dataclass(frozen=True)
class Written:
    """What the model's answer came to: its text and citations, and whether it is grounded or declines."""

    text: str
    citations: tuple[Citation, ...]
    grounded: bool
    invalid: tuple[int, ...] = ()
    declined: bool = False


def generate(
    draft: Draft,
    model: LanguageModel,
    index: Index,
    settings: AnswerSettings,
    count: TokenCounter,
    encoder: Encoder,
) -> Iterator[Event]:
    """Stream a model's answer over the draft's passages (``index`` is the one they were retrieved from).

    An abstaining draft is not sent to the model: the fixed no-answer reply is given. The extractive model quotes
    the passages verbatim, so its citations are the draft's own; any other model's markers are checked against
    the passages (qa/answers/citations.py). A model failure raises ModelError after the pieces already yielded.
    """
    budget = None if isinstance(model, ExtractiveModel) else count  # it reads no context: nothing to fit
    prompt = build_prompt(draft.question, draft.hits, index.documents, settings, budget, extract=draft.extract)
    started = time.perf_counter()
    yield PassagesEvent(draft=draft, model=model.name, flagged_passages=prompt.flagged, dropped_passages=prompt.dropped)
    if not draft.answerable:
        yield TokenEvent(text=NO_ANSWER)
        yield FinalEvent(answer=_answer(draft, model, prompt, Written(NO_ANSWER, (), grounded=False), started))
        return
    pieces = []
    for piece in model.stream(prompt):
        if piece:
            pieces.append(piece)
            yield TokenEvent(text=piece)
    if isinstance(model, ExtractiveModel):
        written = Written(draft.extract, draft.citations, grounded=bool(draft.citations))
    else:
        written = _checked("".join(pieces), prompt, index, encoder)
    yield FinalEvent(answer=_answer(draft, model, prompt, written, started))


def _checked(text: str, prompt: Prompt, index: Index, encoder: Encoder) -> Written:
    """A model's answer with invalid markers removed and its citations checked against the passages."""
    result = check(text, prompt, index.sentences, encoder)
    # The wire shape: a CheckedCitation's Citation fields, without its score and claim.
    citations = tuple(Citation(**{f: getattr(c, f) for f in Citation.__struct_fields__}) for c in result.citations)
    answer = result.text.strip() or NO_ANSWER
    return Written(answer, citations, result.grounded, result.invalid, declined=_declined(answer))


def final_answer(events: Iterator[Event]) -> Answer:
    """The finished answer of an event stream (consumed whole)."""
    answer = None
    for event in events:
        if isinstance(event, FinalEvent):
            answer = event.answer
    if answer is None:
        raise RuntimeError("the event stream ended without a final answer")
    return answer


def _declined(text: str) -> bool:
    """True when the model's whole answer is the no-answer reply the prompt asks for."""
    return " ".join(text.split()).strip(" .").lower() == NO_ANSWER.strip(" .").lower()


def _answer(draft: Draft, model: LanguageModel, prompt: Prompt, written: Written, started: float) -> Answer:
    """The finished answer, with every step's time and their total (generation timed from ``started`` to now)."""
    timings = {
        "embed": draft.embed_ms,
        "search": draft.search_ms,
        "answer": draft.answer_ms,
        "generate": round((time.perf_counter() - started) * 1000, 3),
    }
    timings["total"] = round(sum(timings.values()), 3)
    return Answer(
        question=draft.question,
        answerable=draft.answerable and not written.declined,
        answer=written.text,
        confidence=draft.confidence,
        reason=MODEL_DECLINED if written.declined else draft.reason,
        citations=written.citations,
        hits=draft.hits,
        timings_ms=timings,
        model=model.name,
        grounded=written.grounded and not written.declined,
        invalid_citations=written.invalid,
        flagged_passages=prompt.flagged,
        dropped_passages=prompt.dropped,
    )
