"""The HTTP edge: a Litestar app over ``qa.engine.Engine`` whose every error is an RFC 9457 problem."""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Litestar, get, post
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.dto import MsgspecDTO
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException, ProblemDetailsPlugin
from litestar.response import ServerSentEvent

import qa
from qa import chat_api
from qa.config import Settings, comma_list
from qa.embedding import Encoder
from qa.engine import Engine
from qa.errors import InvalidInput, QAError
from qa.index import Index
from qa.runtime import engine_of, start_loading
from qa.schema import (
    AskRequest,
    AskResponse,
    DocumentOut,
    DocumentSummary,
    ask_response,
    document_out,
    document_summary,
    explain_info,
)
from qa.sse import stream_response

log = logging.getLogger(__name__)
EXAMPLE = '{"question": "Who led the long march to Islamabad?", "top_k": 5}'
ASK_DECODER = msgspec.json.Decoder(AskRequest)


class Health(msgspec.Struct):
    """Body of ``GET /healthz``."""

    status: str


class Readiness(msgspec.Struct, kw_only=True):
    """Body of ``GET /readyz`` once the engine is loaded."""

    status: str
    documents: int
    passages: int
    model: str
    generation: str


class AskBody(MsgspecDTO[AskRequest]):
    """Decodes ``POST /ask`` strictly (no "5" for 5), so wrong JSON types are 400 problems naming the field."""

    def decode_bytes(self, value: bytes) -> Any:
        """The request body as an AskRequest, or InvalidInput saying what to fix."""
        return parse_ask(value)


def parse_ask(body: bytes) -> AskRequest:
    """Decode an ask body, or raise InvalidInput naming the field at fault and showing a good body."""
    if not body.strip():
        raise InvalidInput(f"request body is empty; send a JSON object like {EXAMPLE}")
    try:
        return ASK_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$.")
        field = where.rstrip("`") or "request body"
        raise InvalidInput(f"{field}: {message}; send a JSON object like {EXAMPLE}") from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON ({exc}); send a JSON object like {EXAMPLE}") from None


@post("/ask", status_code=200, dto=AskBody, return_dto=None, sync_to_thread=True)
def ask(data: AskRequest, state: State) -> AskResponse | ServerSentEvent:
    """Answer a question from the articles, citing the exact passages it quotes.

    ``model`` picks a language model from the server's allow-list. With ``"explain": true`` every passage also
    carries its dense, keyword, fused and rerank ``scores``, and the response an ``explain`` block with the
    settings that produced them. With ``"stream": true`` the response is ``text/event-stream``: a ``passages``
    event, ``token`` events, a ``citations`` event and ``done`` (or ``error``, with a problem body).
    """
    engine = engine_of(state)
    explain = explain_info(engine.settings, engine.index.manifest) if data.explain else None
    if data.stream:
        return stream_response(engine.stream(data.question, data.top_k, data.model), explain)
    return ask_response(engine.ask(data.question, data.top_k, data.model), explain=explain)


@get("/documents", sync_to_thread=False)
def documents(state: State) -> list[DocumentSummary]:
    """List every indexed article."""
    return [document_summary(doc) for doc in engine_of(state).documents()]


@get("/documents/{doc_id:str}", sync_to_thread=False)
def document(doc_id: str, state: State) -> DocumentOut:
    """One article with its full text; passage and citation offsets index into it."""
    return document_out(engine_of(state).document(doc_id))


@get("/healthz", sync_to_thread=False)
def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@get("/readyz", sync_to_thread=False)
def readyz(state: State) -> Readiness:
    """Readiness: 200 once the model and index are loaded, else a 503 problem saying why not."""
    engine = engine_of(state)
    manifest = engine.index.manifest
    return Readiness(status="ready", documents=len(engine.index.documents), passages=len(engine.index.passages),
                     model=engine.encoder.name, generation=manifest.generation)


def problem_type(error: type[QAError]) -> str:
    """A stable URN naming a kind of library error, e.g. ``urn:articleqa:problem:index-missing``."""
    return "urn:articleqa:problem:" + re.sub(r"(?<=[a-z])(?=[A-Z])", "-", error.__name__).lower()


def from_qa_error(exc: QAError) -> ProblemDetailsException:
    """The problem for a library error: its status, title and message."""
    if exc.status == HTTPStatus.INTERNAL_SERVER_ERROR:
        log.error("%s: %s", type(exc).__name__, exc)
    return ProblemDetailsException(status_code=exc.status, title=exc.title, detail=str(exc) or exc.title,
                                   type_=problem_type(type(exc)))


def from_http_exception(exc: HTTPException, max_body_bytes: int) -> ProblemDetailsException:
    """The problem for an HTTP-level error (routing, method, body size), with a hint on what to do."""
    status = HTTPStatus(exc.status_code)
    allowed = (exc.headers or {}).get("allow", "see /schema")
    hints = {
        HTTPStatus.NOT_FOUND: "no such route; the API is described at /schema (GET /schema/openapi.json)",
        HTTPStatus.METHOD_NOT_ALLOWED: f"this route does not accept that method; allowed: {allowed}",
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE: f"request body is over {max_body_bytes} bytes; send a smaller body",
    }
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return unexpected(exc)
    extra = [e for e in exc.extra if isinstance(e, dict)] if isinstance(exc.extra, list) else []
    detail = "; ".join([exc.detail, *(str(e.get("message")) for e in extra)])
    if exc.detail == status.phrase:
        detail = hints.get(status, exc.detail)
    elif any(e.get("source") == "body" for e in extra):  # Litestar rejects an empty body before decoding it
        detail = f"request body is missing or empty; send a JSON object like {EXAMPLE}"
    return ProblemDetailsException(status_code=status, title=status.phrase, detail=detail, headers=exc.headers,
                                   type_="about:blank")


def unexpected(exc: Exception) -> ProblemDetailsException:
    """A generic 500 problem for a bug, logged with its traceback and never shown to the caller."""
    log.error("unhandled error", exc_info=exc)
    return ProblemDetailsException(status_code=500, title=HTTPStatus.INTERNAL_SERVER_ERROR.phrase, type_="about:blank",
                                   detail="the server hit an unexpected error; it has been logged, retry or report it")


def create_app(settings: Settings, *, index: Index | None = None, model: Encoder | None = None) -> Litestar:
    """The HTTP app; ready at once when given both index and model, else loading them in the background."""
    engine = Engine(settings, model, index) if index is not None and model is not None else None
    problems: dict[type[Any], Callable[[Any], ProblemDetailsException]] = {
        QAError: from_qa_error,
        HTTPException: functools.partial(from_http_exception, max_body_bytes=settings.max_body_bytes),
        Exception: unexpected,
    }
    return Litestar(
        route_handlers=[ask, documents, document, healthz, readyz, chat_api.router()],
        state=State({"settings": settings, "engine": engine, "error": None, "loader": None}),
        on_startup=[functools.partial(start_loading, index=index, model=model)],
        plugins=[ProblemDetailsPlugin(ProblemDetailsConfig(enable_for_all_http_exceptions=True,
                                                           exception_to_problem_detail_map=problems))],
        openapi_config=OpenAPIConfig(title="articleqa", version=qa.__version__),
        request_max_body_size=settings.max_body_bytes,
        cors_config=cors(settings),
    )


def cors(settings: Settings) -> CORSConfig | None:
    """CORS for browser frontends on the origins in ``cors_origins`` (comma-separated; ``*`` for any), else off."""
    origins = comma_list(settings.cors_origins)
    if not origins:
        return None
    return CORSConfig(allow_origins=list(origins), allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["*"])


def app_from_env() -> Litestar:
    """The app configured from ``QA_*`` environment variables, for ``uvicorn --factory qa.app:app_from_env``."""
    return create_app(Settings.from_env(os.environ))
