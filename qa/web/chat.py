"""The OpenAI-compatible edge: ``POST /v1/chat/completions`` and ``GET /v1/models`` for chat frontends.

The last user message is the question; the earlier user and assistant messages are its history, from which a
follow-up ("and when was that?") is made self-contained (only the latest turns within the history limits are used,
and the sources list of our own earlier replies is left out). The answer text carries ``[n]`` markers and ends with
a sources list; the structured citations travel once, in the ``articleqa`` extension field of the response (or of
the last chunk when streaming). Errors use the OpenAI error shape ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import msgspec
from litestar import Router, get, post
from litestar.dto import MsgspecDTO
from litestar.response import ServerSentEventMessage

from qa.base.errors import InvalidInput, ModelNotFound
from qa.base.records import Answer, Event, Filter, FinalEvent, TokenEvent, Turn
from qa.base.settings import AnswerSettings, Settings
from qa.service.engine import Engine
from qa.service.streams import Extension, extension
from qa.web import problems
from qa.web.decoding import decode
from qa.web.metrics import observe
from qa.web.openapi import JsonOrStream, ModelSchema, openai_error_responses
from qa.web.sse import EventStream

log = logging.getLogger(__name__)
ROLES = ("system", "developer", "user", "assistant", "tool")
EXAMPLE = '{"model": "extractive", "messages": [{"role": "user", "content": "Who led the long march?"}]}'
ROLE = msgspec.Meta(description=f"One of {', '.join(ROLES)}; the last message must be the user's.", examples=["user"])
MESSAGES = msgspec.Meta(min_length=1, examples=[[{"role": "user", "content": "Who led the long march?"}]])
MODEL = msgspec.Meta(description="A model from GET /v1/models.", examples=["extractive"])
SOURCES_HEADING = "\n\nSources:\n"
SOURCES_LIST = re.compile(r"\n\s*Sources:\s*\n")  # where a reply's sources list starts, however its lines end


class ChatMessage(msgspec.Struct, kw_only=True):
    """One message; ``content`` is text or a list of parts (only ``{"type": "text"}`` parts are read)."""

    role: Annotated[str, ROLE]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(msgspec.Struct, kw_only=True):
    """Body of ``POST /v1/chat/completions``; other OpenAI fields (temperature, n, user...) are accepted and ignored."""

    model: Annotated[str, MODEL]
    messages: Annotated[list[ChatMessage], MESSAGES]
    stream: bool = False
    filter: Filter | None = None
    recency: bool = False


class AssistantMessage(msgspec.Struct, kw_only=True):
    """The answer: its text with ``[n]`` markers, then the sources list."""

    role: Literal["assistant"] = "assistant"
    content: str


class Choice(msgspec.Struct, kw_only=True):
    """The one choice of a completion."""

    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class Usage(msgspec.Struct, kw_only=True):
    """Token counts, which this server does not keep (always 0)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletion(msgspec.Struct, kw_only=True):
    """A ``chat.completion``, with the ``articleqa`` extension."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    articleqa: Extension


class Delta(msgspec.Struct, kw_only=True):
    """The next piece of a streamed answer: the role first, then content."""

    role: Literal["assistant"] | msgspec.UnsetType = msgspec.UNSET
    content: str | msgspec.UnsetType = msgspec.UNSET


class ChunkChoice(msgspec.Struct, kw_only=True):
    """The one choice of a chunk; ``finish_reason`` is ``stop`` on the last."""

    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None


class ChatChunk(msgspec.Struct, kw_only=True):
    """A ``chat.completion.chunk``; the last carries the ``articleqa`` extension."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    articleqa: Extension | msgspec.UnsetType = msgspec.UNSET


class ChatStream(EventStream):
    """A streamed completion, OpenAI-style: ``chat.completion.chunk`` events (or an error), then ``[DONE]``."""

    events = (("message", ChatChunk | problems.OpenAIError), ("message", "[DONE]"))


class ModelCard(msgspec.Struct, kw_only=True):
    """A model this server answers with."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "articleqa"


class ModelList(msgspec.Struct, kw_only=True):
    """The models of the allow-list, OpenAI-style."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class ChatBody(ModelSchema, MsgspecDTO[ChatRequest]):
    """Decodes the chat body with messages that say what to fix."""

    def decode_bytes(self, value: bytes) -> Any:
        """The request body as a ChatRequest, or InvalidInput naming the field at fault."""
        return decode(value, ChatRequest, EXAMPLE)


def question_of(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
    """The question a conversation asks (its last user message) and the user and assistant turns before it, oldest
    first (system and tool messages, and empty ones, left out; the sources list of an assistant reply removed)."""
    if not messages:
        raise InvalidInput("messages is empty; send at least one message with role user")
    for i, message in enumerate(messages):
        if message.role not in ROLES:
            raise InvalidInput(f"messages[{i}].role is {message.role!r}; use one of {', '.join(ROLES)}")
    if messages[-1].role != "user":
        raise InvalidInput(f"the last message has role {messages[-1].role!r}; it must be the user's question")
    question = _text(messages[-1])
    if not question:
        raise InvalidInput("the last user message is empty; put the question in its content")
    history = [
        Turn(role="user" if m.role == "user" else "assistant", text=_said(m))
        for m in messages[:-1]
        if m.role in ("user", "assistant")
    ]
    return question, [turn for turn in history if turn.text]


def latest(history: list[Turn], limits: AnswerSettings) -> list[Turn]:
    """The latest turns within the history limits: a chat frontend sends the whole conversation every time."""
    kept: list[Turn] = []
    chars = 0
    for turn in reversed(history):
        chars += len(turn.text)
        if len(kept) >= limits.max_history_turns or chars > limits.max_history_chars:
            break
        kept.append(turn)
    return kept[::-1]


def _said(message: ChatMessage) -> str:
    """A message's text; for an assistant message, without the sources list our replies end with."""
    text = _text(message)
    return SOURCES_LIST.split(text, maxsplit=1)[0].strip() if message.role == "assistant" else text


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
    return SOURCES_HEADING + "\n".join(lines) if lines else ""


def _chunk(ident: str, created: int, model: str, delta: Delta, last: Extension | None = None) -> str:
    """One ``chat.completion.chunk`` as JSON; the ``last`` carries the extension and finishes the choice."""
    choice = ChunkChoice(delta=delta, finish_reason=None if last is None else "stop")
    chunk = ChatChunk(
        id=ident, created=created, model=model, choices=[choice], articleqa=msgspec.UNSET if last is None else last
    )
    return msgspec.json.encode(chunk).decode()


def chunks(events: Iterator[Event], model: str) -> Iterator[ServerSentEventMessage]:
    """The OpenAI stream: a role chunk, content chunks, the sources, a final chunk with the extension, [DONE]."""
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    yield ServerSentEventMessage(data=_chunk(ident, created, model, Delta(role="assistant", content="")))
    try:
        for event in events:
            if isinstance(event, TokenEvent):
                yield ServerSentEventMessage(data=_chunk(ident, created, model, Delta(content=event.text)))
            elif isinstance(event, FinalEvent):
                observe(event.answer)
                tail = Delta(content=sources(event.answer)) if event.answer.citations else Delta()
                yield ServerSentEventMessage(data=_chunk(ident, created, model, tail, extension(event.answer)))
    except Exception as exc:
        log.warning("chat stream failed: %s", exc)
        yield ServerSentEventMessage(data=msgspec.json.encode(problems.openai_body(problems.problem(exc))).decode())
    yield ServerSentEventMessage(data="[DONE]")


@post(
    "/chat/completions",
    dto=ChatBody,
    return_dto=None,
    status_code=200,
    sync_to_thread=True,
    responses=openai_error_responses(400, 404, 408, 413, 415, 500, 502, 503),
    operation_class=JsonOrStream,
)
def chat_completions(data: ChatRequest, engine: Engine) -> ChatCompletion | ChatStream:
    """Answer the conversation's last question, OpenAI-style; see the module docstring for the extension field."""
    allowed = engine.models()
    if data.model not in allowed:
        served = ", ".join(allowed)
        raise ModelNotFound(f"model {data.model!r} is not served here; use one of {served} (GET /v1/models)")
    question, history = question_of(data.messages)
    turns = latest(history, engine.settings.answers)
    events = engine.stream(question, None, data.model, history=turns, where=data.filter, recency=data.recency)
    if data.stream:
        return ChatStream(chunks(events, data.model))
    answer = next(e.answer for e in events if isinstance(e, FinalEvent))
    observe(answer)
    message = AssistantMessage(content=answer.answer + sources(answer))
    return ChatCompletion(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=data.model,
        choices=[Choice(message=message)],
        usage=Usage(),
        articleqa=extension(answer),
    )


@get("/models", sync_to_thread=False, responses=openai_error_responses(500))
def models(settings: Settings) -> ModelList:
    """The models this server answers with (its allow-list), OpenAI-style."""
    return ModelList(data=[ModelCard(id=name) for name in settings.models.allowed])


def router() -> Router:
    """The /v1 routes (the app's error handler answers in the OpenAI shape under /v1)."""
    return Router(path="/v1", route_handlers=[chat_completions, models])
