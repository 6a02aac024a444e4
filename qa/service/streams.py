"""The JSON shapes of streamed answers: the events of ``/ask`` with ``"stream": true`` and the ``/v1`` extension."""

from __future__ import annotations

import msgspec

from qa.base.records import Answer, Citation, PassagesEvent
from qa.service.wire import Explain, PassageOut, passages_out, shape, unset_if_none


class PassagesData(msgspec.Struct, kw_only=True):
    """Data of the ``passages`` event: what was retrieved and how it was given to the model."""

    question: str
    model: str
    answerable: bool
    confidence: float
    reason: str | None
    passages: list[PassageOut]
    flagged_passages: list[int]
    dropped_passages: list[int]
    explain: Explain | msgspec.UnsetType = msgspec.UNSET


class TokenData(msgspec.Struct):
    """Data of a ``token`` event: the next piece of the answer text."""

    text: str


class CitationsData(msgspec.Struct, kw_only=True):
    """Data of the ``citations`` event: the final answer text (invalid markers removed) and its checked citations."""

    answer: str
    grounded: bool
    citations: list[Citation]
    invalid_citations: list[int]
    timings_ms: dict[str, float]


class Done(msgspec.Struct):
    """Data of the ``done`` event that ends a stream: an empty object."""


class Source(msgspec.Struct, kw_only=True):
    """A passage the answer was drawn from, by its rank ``n`` (the ``[n]`` markers) and its span of the article."""

    n: int
    doc_id: str
    title: str
    start: int
    end: int


class Extension(msgspec.Struct, kw_only=True):
    """The ``articleqa`` extension of an OpenAI-style answer: the checked citations and the passages behind it."""

    answerable: bool
    grounded: bool
    confidence: float
    reason: str | None
    citations: list[Citation]
    invalid_citations: list[int]
    passages: list[Source]


def passages_data(event: PassagesEvent, *, explain: Explain | None = None) -> PassagesData:
    """The ``passages`` event of a stream: the retrieved passages before any answer text, and how they were given."""
    return shape(
        event.draft,
        PassagesData,
        model=event.model,
        flagged_passages=event.flagged_passages,
        dropped_passages=event.dropped_passages,
        passages=passages_out(event.draft.hits, explain),
        explain=unset_if_none(explain),
    )


def citations_data(answer: Answer) -> CitationsData:
    """The ``citations`` event of a stream: the final answer text and its checked citations."""
    return shape(answer, CitationsData)


def extension(answer: Answer) -> Extension:
    """The ``articleqa`` extension of an OpenAI-style answer."""
    sources = [shape(hit.passage, Source, n=hit.rank, title=hit.title) for hit in answer.hits]
    return shape(answer, Extension, passages=sources)
