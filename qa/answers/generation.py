"""Answers written by a language model over the retrieved passages: typed events, then checked citations."""

from __future__ import annotations

import time
from collections.abc import Iterator

import msgspec

from qa.answers.citations import check
from qa.answers.prompt import NO_ANSWER, build_prompt
from qa.base.records import Answer, Citation, Event, FinalEvent, PassagesEvent, TokenEvent
from qa.base.settings import AnswerSettings
from qa.models.extractive import ExtractiveModel
from qa.models.interface import LanguageModel
from qa.store.chunking import TokenCounter
from qa.store.embedding import Encoder
from qa.store.index import Index

MODEL_DECLINED = "model_declined"


def generate(
    draft: Answer,
    model: LanguageModel,
    index: Index,
    settings: AnswerSettings,
    count: TokenCounter,
    encoder: Encoder,
) -> Iterator[Event]:
    """Stream a model's answer over the draft's passages (the engine's extractive answer over ``index``).

    An abstaining draft is not sent to the model: the fixed no-answer reply is given. The extractive model quotes
    the passages verbatim, so its citations are the draft's own; any other model's markers are checked against
    the passages (qa/citations.py). A model failure raises ModelError after the pieces already yielded.
    """
    extract = draft.answer if draft.answerable else NO_ANSWER
    prompt = build_prompt(draft.question, draft.hits, index.documents, settings, count, extract=extract)
    started = time.perf_counter()
    head = msgspec.structs.replace(
        draft,
        answer="",
        citations=(),
        model=model.name,
        grounded=False,
        flagged_passages=prompt.flagged,
        dropped_passages=prompt.dropped,
    )
    yield PassagesEvent(answer=head)
    if not draft.answerable:
        yield TokenEvent(text=NO_ANSWER)
        yield FinalEvent(answer=_timed(msgspec.structs.replace(head, answer=NO_ANSWER), started))
        return
    pieces = []
    for piece in model.stream(prompt):
        if piece:
            pieces.append(piece)
            yield TokenEvent(text=piece)
    text = "".join(pieces)
    if isinstance(model, ExtractiveModel):
        final = msgspec.structs.replace(
            head, answer=draft.answer, citations=draft.citations, grounded=bool(draft.citations)
        )
    else:
        checked = check(text, prompt, index.sentences, encoder)
        # The wire shape: a CheckedCitation's Citation fields, without its score and claim.
        citations = tuple(Citation(**{f: getattr(c, f) for f in Citation.__struct_fields__}) for c in checked.citations)
        final = msgspec.structs.replace(
            head,
            answer=checked.text.strip() or NO_ANSWER,
            citations=citations,
            grounded=checked.grounded,
            invalid_citations=checked.invalid,
        )
        if _declined(final.answer):
            final = msgspec.structs.replace(final, answerable=False, reason=MODEL_DECLINED, grounded=False)
    yield FinalEvent(answer=_timed(final, started))


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


def _timed(answer: Answer, started: float) -> Answer:
    """The answer with the generation time added to its timings."""
    timings = dict(answer.timings_ms)
    timings["generate"] = round((time.perf_counter() - started) * 1000, 3)
    timings["total"] = round(timings.get("total", 0.0) + timings["generate"], 3)
    return msgspec.structs.replace(answer, timings_ms=timings)
