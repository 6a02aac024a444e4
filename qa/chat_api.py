"""The OpenAI-compatible edge: ``POST /v1/chat/completions`` and ``GET /v1/models`` for chat frontends.

The last user message is the question; a short follow-up ("and when was that?") is asked together with the user's
previous message so that it stands alone. The answer text carries ``[n]`` markers and ends with a sources list;
the structured citations travel once, in the ``articleqa`` extension field of the response (or of the last
chunk when streaming). Errors use the OpenAI error shape ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.dto import MsgspecDTO
from litestar.exceptions import HTTPException
from litestar.response import ServerSentEvent, ServerSentEventMessage

from qa.config import comma_list
from qa.errors import InvalidInput, NotFound, QAError
from qa.generation import Event, FinalEvent, TokenEvent
from qa.question import content_terms
from qa.records import Answer, Citation
from qa.runtime import engine_of
from qa.sse import EventStream

log = logging.getLogger(__name__)
ROLES = ("system", "developer", "user", "assistant", "tool")
FOLLOW_UP_TERMS = 3  # a last question with fewer content terms than this is asked with the previous one
EXAMPLE = '{"model": "extractive", "messages": [{"role": "user", "content": "Who led the long march?"}]}'


class ChatMessage(msgspec.Struct, kw_only=True):
    """One message; ``content`` is text or a list of parts (only ``{"type": "text"}`` parts are read)."""

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(msgspec.Struct, kw_only=True):
    """Body of ``POST /v1/chat/completions``; other OpenAI fields (temperature, n, user...) are accepted and ignored."""

    model: str
    messages: list[ChatMessage]
    stream: bool = False


class Extension(msgspec.Struct, kw_only=True):
    """The ``articleqa`` extension: the checked citations and the passages behind the answer."""

    answerable: bool
    grounded: bool
    confidence: float
    reason: str | None
    citations: list[Citation]
    invalid_citations: list[int]
    passages: list[dict[str, Any]]


class ChatBody(MsgspecDTO[ChatRequest]):
    """Decodes the chat body with messages that say what to fix."""

    def decode_bytes(self, value: bytes) -> Any:
        """The request body as a ChatRequest, or InvalidInput naming the field at fault."""
        if not value.strip():
            raise InvalidInput(f"request body is empty; send a JSON object like {EXAMPLE}")
        try:
            return msgspec.json.decode(value, type=ChatRequest)
        except msgspec.ValidationError as exc:
            message, _, where = str(exc).partition(" - at `$.")
            raise InvalidInput(f"{where.rstrip('`') or 'request body'}: {message}; send e.g. {EXAMPLE}") from None
        except msgspec.DecodeError as exc:
            raise InvalidInput(f"request body is not valid JSON ({exc}); send e.g. {EXAMPLE}") from None


def question_of(messages: list[ChatMessage]) -> str:
    """The question a conversation asks: its last user message, with the previous one when it is a short follow-up."""
    if not messages:
        raise InvalidInput("messages is empty; send at least one message with role user")
    for i, message in enumerate(messages):
        if message.role not in ROLES:
            raise InvalidInput(f"messages[{i}].role is {message.role!r}; use one of {', '.join(ROLES)}")
    if messages[-1].role != "user":
        raise InvalidInput(f"the last message has role {messages[-1].role!r}; it must be the user's question")
    asked = [_text(m) for m in messages if m.role == "user"]
    if not asked[-1]:
        raise InvalidInput("the last user message is empty; put the question in its content")
    earlier = [text for text in asked[:-1] if text]
    if earlier and len(content_terms(asked[-1])) < FOLLOW_UP_TERMS:
        return f"{earlier[-1]} {asked[-1]}"
    return asked[-1]


def _text(message: ChatMessage) -> str:
    """The text of a message's content (text parts joined), stripped."""
    if isinstance(message.content, list):
        parts = [p.get("text") for p in message.content if p.get("type") == "text"]
        return " ".join(p for p in parts if isinstance(p, str)).strip()
    return (message.content or "").strip()


def sources(answer: Answer) -> str:
    """The sources list appended to the answer text: each cited passage once, by number."""
    cited = sorted({c.n for c in answer.citations})
    titles = {h.rank: (h.title, h.passage.doc_id) for h in answer.hits}
    lines = [f"[{n}] {titles[n][0]} ({titles[n][1]})" for n in cited if n in titles]
    return "\n\nSources:\n" + "\n".join(lines) if lines else ""


def extension(answer: Answer) -> Extension:
    """The ``articleqa`` extension field of an answer."""
    return Extension(
        answerable=answer.answerable,
        grounded=answer.grounded,
        confidence=answer.confidence,
        reason=answer.reason,
        citations=list(answer.citations),
        invalid_citations=list(answer.invalid_citations),
        passages=[
            {"n": h.rank, "doc_id": h.passage.doc_id, "title": h.title, "start": h.passage.start, "end": h.passage.end}
            for h in answer.hits
        ],
    )


def _chunk(ident: str, created: int, model: str, delta: dict[str, Any], finish: str | None, **extra: Any) -> str:
    """One ``chat.completion.chunk`` as JSON."""
    body = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return msgspec.json.encode(body).decode()


def chunks(events: Iterator[Event], model: str) -> Iterator[ServerSentEventMessage]:
    """The OpenAI stream: a role chunk, content chunks, the sources, a final chunk with the extension, [DONE]."""
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    yield ServerSentEventMessage(data=_chunk(ident, created, model, {"role": "assistant", "content": ""}, None))
    try:
        for event in events:
            if isinstance(event, TokenEvent):
                yield ServerSentEventMessage(data=_chunk(ident, created, model, {"content": event.text}, None))
            elif isinstance(event, FinalEvent):
                tail = {"content": sources(event.answer)} if event.answer.citations else {}
                ext = msgspec.to_builtins(extension(event.answer))
                yield ServerSentEventMessage(data=_chunk(ident, created, model, tail, "stop", articleqa=ext))
    except QAError as exc:
        log.warning("chat stream failed: %s", exc)
        yield ServerSentEventMessage(data=msgspec.json.encode(_error_body(exc.status, str(exc))).decode())
    except Exception:
        log.exception("chat stream failed unexpectedly")
        detail = "the server hit an unexpected error; it has been logged, retry or report it"
        yield ServerSentEventMessage(data=msgspec.json.encode(_error_body(500, detail)).decode())
    yield ServerSentEventMessage(data="[DONE]")


@post("/chat/completions", dto=ChatBody, return_dto=None, status_code=200, sync_to_thread=True)
def chat_completions(data: ChatRequest, state: State) -> dict[str, Any] | ServerSentEvent:
    """Answer the conversation's last question, OpenAI-style; see the module docstring for the extension field."""
    engine = engine_of(state)
    allowed = comma_list(engine.settings.llm_allowed)
    if data.model not in allowed:
        raise NotFound(f"model {data.model!r} is not served here; use one of {', '.join(allowed)} (GET /v1/models)")
    events = engine.stream(question_of(data.messages), None, data.model)
    if data.stream:
        return EventStream(chunks(events, data.model))
    answer = next(e.answer for e in events if isinstance(e, FinalEvent))
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer + sources(answer)},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "articleqa": msgspec.to_builtins(extension(answer)),
    }


@get("/models", sync_to_thread=False)
def models(state: State) -> dict[str, Any]:
    """The models this server answers with (its allow-list), OpenAI-style."""
    names = comma_list(state.settings.llm_allowed)
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "articleqa"} for n in names]
    return {"object": "list", "data": data}


def _error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """The OpenAI error shape."""
    kind = "invalid_request_error" if 400 <= status < 500 else "api_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def openai_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Any error under /v1 as an OpenAI error body with its status (a bug is a logged, generic 500)."""
    if isinstance(exc, QAError):
        status = 404 if isinstance(exc, NotFound) else exc.status
        code = "model_not_found" if isinstance(exc, NotFound) else None
        return Response(_error_body(status, str(exc), code), status_code=status)
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        hint = f"; send e.g. {EXAMPLE}" if exc.status_code == 400 else ""
        return Response(_error_body(exc.status_code, f"{exc.detail}{hint}"), status_code=exc.status_code)
    log.error("unhandled error under /v1", exc_info=exc)
    detail = "the server hit an unexpected error; it has been logged, retry or report it"
    return Response(_error_body(500, detail), status_code=500)


def router() -> Router:
    """The /v1 routes with their OpenAI-shaped errors."""
    # The app maps QAError and HTTPException to problem+json; the same keys here take precedence under /v1.
    handlers: dict[int | type[Exception], Any] = {QAError: openai_error, HTTPException: openai_error,
                                                  Exception: openai_error}
    return Router(path="/v1", route_handlers=[chat_completions, models], exception_handlers=handlers)
