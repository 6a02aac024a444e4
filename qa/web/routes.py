"""The HTTP routes of the service: ``/ask``, health and readiness; each parses, calls, formats."""

from __future__ import annotations

from litestar import get, head, post

from qa.service.engine import Engine, final_answer
from qa.service.wire import (
    AskRequest,
    AskResponse,
    Health,
    Readiness,
    ask_response,
)
from qa.web.decoding import AskBody
from qa.web.metrics import observe
from qa.web.openapi import JsonOrStream, problem_responses
from qa.web.sse import AskStream, stream_response


@post(
    "/ask",
    status_code=200,
    dto=AskBody,
    return_dto=None,
    sync_to_thread=True,
    responses=problem_responses(400, 408, 413, 415, 500, 502, 503),
    operation_class=JsonOrStream,
)
def ask(data: AskRequest, engine: Engine) -> AskResponse | AskStream:
    """Answer a question from the articles, citing the exact passages it quotes.

    ``model`` picks a language model from the server's allow-list. With ``"explain": true`` every passage also
    carries its dense, keyword, fused and rerank ``scores``, and the response an ``explain`` block with the
    settings that produced them. With ``"stream": true`` the response is ``text/event-stream``: a ``passages``
    event, ``token`` events, a ``citations`` event and ``done`` (or ``error``, with a problem body). ``history``
    (earlier user and assistant turns, oldest first) makes a follow-up question self-contained.
    """
    explain = engine.explain() if data.explain else None
    events = engine.stream(
        data.question, data.top_k, data.model, history=data.turns(), where=data.filter, recency=data.recency
    )
    if data.stream:
        return stream_response(events, explain)
    answer = final_answer(events)
    observe(answer)
    return ask_response(answer, explain=explain)


@get("/healthz", sync_to_thread=False, responses=problem_responses(500))
def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@head("/healthz", sync_to_thread=False, responses=problem_responses(500))
def healthz_head() -> None:
    """Liveness for HEAD probes: 200, no body."""


@get("/readyz", sync_to_thread=False, responses=problem_responses(500, 503))
def readyz(engine: Engine) -> Readiness:
    """Readiness: 200 once the model and index are loaded, else a 503 problem saying why not."""
    return engine.readiness()
