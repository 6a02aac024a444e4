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
from litestar import Router, get, post
from litestar.datastructures import State
from litestar.dto import MsgspecDTO
from litestar.response import ServerSentEvent, ServerSentEventMessage

from qa.base.errors import InvalidInput, ModelNotFound
from qa.base.records import Answer, Citation, Event, FinalEvent, TokenEvent
from qa.service.engine import Engine
from qa.web import problems
from qa.web.decoding import decode
from qa.web.sse import EventStream

log = logging.getLogger(__name__)
ROLES = ("system", "developer", "user", "assistant", "tool")
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
        return decode(value, ChatRequest, EXAMPLE)


def question_of(messages: list[ChatMessage]) -> tuple[str, list[str]]:
    """The question a conversation asks (its last user message) and the user's earlier messages, oldest first."""
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
    return asked[-1], [text for text in asked[:-1] if text]


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
    except Exception as exc:
        log.warning("chat stream failed: %s", exc)
        yield ServerSentEventMessage(data=msgspec.json.encode(problems.openai_body(problems.problem(exc))).decode())
    yield ServerSentEventMessage(data="[DONE]")


@post("/chat/completions", dto=ChatBody, return_dto=None, status_code=200, sync_to_thread=True)
def chat_completions(data: ChatRequest, engine: Engine) -> dict[str, Any] | ServerSentEvent:
    """Answer the conversation's last question, OpenAI-style; see the module docstring for the extension field."""
    allowed = engine.models()
    if data.model not in allowed:
        served = ", ".join(allowed)
        raise ModelNotFound(f"model {data.model!r} is not served here; use one of {served} (GET /v1/models)")
    question, earlier = question_of(data.messages)
    events = engine.stream(question, None, data.model, earlier=earlier)
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
    names = state.slot.settings.models.allowed
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "articleqa"} for n in names]
    return {"object": "list", "data": data}


def router() -> Router:
    """The /v1 routes (the app's error handler answers in the OpenAI shape under /v1)."""
    return Router(path="/v1", route_handlers=[chat_completions, models])
