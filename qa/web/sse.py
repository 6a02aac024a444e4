"""``POST /ask`` with ``"stream": true``: the answer's events as typed Server-Sent Events.

Order: ``passages`` once, ``token`` pieces, ``citations`` once, then ``done``. A failure after the stream has
started arrives as an ``error`` event with a problem body (RFC 9457 fields), never as a cut connection.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, ClassVar

import msgspec
from litestar.response import ServerSentEvent, ServerSentEventMessage

from qa.base.records import Event, FinalEvent, PassagesEvent, TokenEvent
from qa.service.streams import CitationsData, Done, PassagesData, TokenData, citations_data, passages_data
from qa.service.wire import Explain, shape
from qa.web import problems
from qa.web.metrics import observe

log = logging.getLogger(__name__)


class EventStream(ServerSentEvent):
    """An SSE response that keeps ``text/event-stream`` even from a handler that also returns JSON bodies.

    ``events`` documents the stream (qa.web.openapi): each event's name and the type of its JSON data, or the
    literal text of its data.
    """

    events: ClassVar[tuple[tuple[str, Any], ...]] = ()

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        """As ServerSentEvent's, but the handler's JSON media type does not override this response's own."""
        kwargs["media_type"] = self.media_type
        return super().to_asgi_response(*args, **kwargs)


class AskStream(EventStream):
    """The events of ``POST /ask`` with ``"stream": true``: ``passages``, ``token`` pieces, ``citations``, then
    ``done``; or an ``error`` (a problem) that ends the stream."""

    events = (
        ("passages", PassagesData),
        ("token", TokenData),
        ("citations", CitationsData),
        ("done", Done),
        ("error", problems.Problem),
    )


def stream_response(events: Iterator[Event], explain: Explain | None) -> AskStream:
    """The SSE response for an event stream (iterated in a worker thread by Litestar)."""
    return AskStream(sse_messages(events, explain))


def sse_messages(events: Iterator[Event], explain: Explain | None) -> Iterator[ServerSentEventMessage]:
    """Each event as an SSE message; an error mid-stream becomes an ``error`` event and ends the stream."""
    try:
        for event in events:
            if isinstance(event, PassagesEvent):
                yield _message("passages", passages_data(event, explain=explain))
            elif isinstance(event, TokenEvent):
                yield _message("token", shape(event, TokenData))
            elif isinstance(event, FinalEvent):
                observe(event.answer)
                yield _message("citations", citations_data(event.answer))
        yield _message("done", Done())
    except Exception as exc:
        log.warning("stream failed: %s", exc)
        yield _message("error", problems.body(exc))


def _message(event: str, data: Any) -> ServerSentEventMessage:
    """One SSE message with a JSON data line."""
    return ServerSentEventMessage(event=event, data=msgspec.json.encode(data).decode())
