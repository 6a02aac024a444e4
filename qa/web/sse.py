"""``POST /ask`` with ``"stream": true``: the answer's events as typed Server-Sent Events.

Order: ``passages`` once, ``token`` pieces, ``citations`` once, then ``done``. A failure after the stream has
started arrives as an ``error`` event with a problem body (RFC 9457 fields), never as a cut connection.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import msgspec
from litestar.response import ServerSentEvent, ServerSentEventMessage

from qa.base.records import Answer, Citation, Event, FinalEvent, PassagesEvent, TokenEvent
from qa.service.wire import Explain, PassageOut, passages_out
from qa.web import problems

log = logging.getLogger(__name__)


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


class EventStream(ServerSentEvent):
    """An SSE response that keeps ``text/event-stream`` even from a handler that also returns JSON bodies."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        """As ServerSentEvent's, but the handler's JSON media type does not override this response's own."""
        kwargs["media_type"] = self.media_type
        return super().to_asgi_response(*args, **kwargs)


def stream_response(events: Iterator[Event], explain: Explain | None) -> ServerSentEvent:
    """The SSE response for an event stream (iterated in a worker thread by Litestar)."""
    return EventStream(sse_messages(events, explain))


def sse_messages(events: Iterator[Event], explain: Explain | None) -> Iterator[ServerSentEventMessage]:
    """Each event as an SSE message; an error mid-stream becomes an ``error`` event and ends the stream."""
    try:
        for event in events:
            if isinstance(event, PassagesEvent):
                yield _message("passages", _passages(event, explain))
            elif isinstance(event, TokenEvent):
                yield _message("token", TokenData(event.text))
            elif isinstance(event, FinalEvent):
                yield _message("citations", _citations(event.answer))
        yield _message("done", {})
    except Exception as exc:
        log.warning("stream failed: %s", exc)
        yield _message("error", problems.body(exc))


def _message(event: str, data: Any) -> ServerSentEventMessage:
    """One SSE message with a JSON data line."""
    return ServerSentEventMessage(event=event, data=msgspec.json.encode(data).decode())


def _passages(event: PassagesEvent, explain: Explain | None) -> PassagesData:
    """The ``passages`` event's data."""
    draft = event.draft
    return PassagesData(
        question=draft.question,
        model=event.model,
        answerable=draft.answerable,
        confidence=draft.confidence,
        reason=draft.reason,
        passages=passages_out(draft.hits, explain),
        flagged_passages=list(event.flagged_passages),
        dropped_passages=list(event.dropped_passages),
        explain=explain if explain is not None else msgspec.UNSET,
    )


def _citations(answer: Answer) -> CitationsData:
    """The ``citations`` event's data."""
    return CitationsData(
        answer=answer.answer,
        grounded=answer.grounded,
        citations=list(answer.citations),
        invalid_citations=list(answer.invalid_citations),
        timings_ms=answer.timings_ms,
    )
