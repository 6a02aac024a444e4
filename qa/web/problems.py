"""Errors on the wire, mapped once: a library error's kind to RFC 9457 problem+json, and a problem to OpenAI's shape."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.plugins.problem_details import ProblemDetailsException

from qa.base.errors import QAError, RateLimited

log = logging.getLogger("qa.web")
TYPE_PREFIX = "urn:articleqa:problem:"
OPENAI_PREFIX = "/v1"
UNEXPECTED = "the server hit an unexpected error; it has been logged, retry or report it"
EXAMPLE = '{"question": "Who led the long march to Islamabad?", "top_k": 5}'

# Each kind of library error (qa.base.errors) as an HTTP status and a problem title.
KINDS: dict[str, tuple[HTTPStatus, str]] = {
    "invalid-input": (HTTPStatus.BAD_REQUEST, "Invalid input"),
    "unauthorized": (HTTPStatus.UNAUTHORIZED, "Unauthorized"),
    "forbidden": (HTTPStatus.FORBIDDEN, "Forbidden"),
    "not-found": (HTTPStatus.NOT_FOUND, "Not found"),
    "model-not-found": (HTTPStatus.NOT_FOUND, "Model not found"),
    "rate-limited": (HTTPStatus.TOO_MANY_REQUESTS, "Too many requests"),
    "config-error": (HTTPStatus.INTERNAL_SERVER_ERROR, "Configuration error"),
    "corpus-error": (HTTPStatus.INTERNAL_SERVER_ERROR, "Corpus error"),
    "index-missing": (HTTPStatus.SERVICE_UNAVAILABLE, "Index missing"),
    "index-mismatch": (HTTPStatus.SERVICE_UNAVAILABLE, "Index mismatch"),
    "index-busy": (HTTPStatus.SERVICE_UNAVAILABLE, "Index busy"),
    "conflict": (HTTPStatus.CONFLICT, "Conflict"),
    "not-ready": (HTTPStatus.SERVICE_UNAVAILABLE, "Not ready"),
    "model-error": (HTTPStatus.BAD_GATEWAY, "Language model error"),
    "model-unavailable": (HTTPStatus.SERVICE_UNAVAILABLE, "Language model unavailable"),
    "internal": (HTTPStatus.INTERNAL_SERVER_ERROR, "Internal error"),
}
NO_ROUTE = "no such route; the API is described at /schema (GET /schema/openapi.json)"


class Problem(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem body: what the ``error`` event of a stream carries, and what every error response is."""

    type: str
    title: str
    status: int
    detail: str


class OpenAIErrorDetail(msgspec.Struct, kw_only=True):
    """What went wrong, OpenAI-style: ``type`` is ``invalid_request_error`` (4xx) or ``api_error`` (5xx), ``code``
    the kind of error (e.g. ``model_not_found``); ``param`` is always null here."""

    message: str
    type: str
    param: str | None
    code: str


class OpenAIError(msgspec.Struct):
    """An error in the OpenAI error shape, as ``/v1`` answers it."""

    error: OpenAIErrorDetail


def problem(exc: BaseException, max_body_bytes: int | None = None) -> ProblemDetailsException:
    """The problem for any error: a library error by its kind, an HTTP error by its status, a bug as a logged 500."""
    if isinstance(exc, ProblemDetailsException):
        return exc
    if isinstance(exc, QAError):
        status, title = KINDS.get(exc.kind, KINDS["internal"])
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            log.error("%s: %s", type(exc).__name__, exc)
        return ProblemDetailsException(
            status_code=status,
            title=title,
            detail=str(exc) or title,
            type_=TYPE_PREFIX + exc.kind,
            headers=_headers(exc),
        )
    if isinstance(exc, HTTPException) and exc.status_code < HTTPStatus.INTERNAL_SERVER_ERROR:
        return _http_problem(exc, max_body_bytes)
    log.error("unhandled error", exc_info=exc)
    return ProblemDetailsException(
        status_code=500,
        title=HTTPStatus.INTERNAL_SERVER_ERROR.phrase,
        detail=UNEXPECTED,
        type_=TYPE_PREFIX + "internal",
    )


def _headers(exc: QAError) -> dict[str, str] | None:
    """The headers a library error's response needs: the auth scheme on a 401, when to retry on a 429."""
    if exc.kind == "unauthorized":
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(exc.retry_after)}
    return None


def _http_problem(exc: HTTPException, max_body_bytes: int | None) -> ProblemDetailsException:
    """The problem for an HTTP-level error (routing, method, body size, media type), with a hint on what to do."""
    status = HTTPStatus(exc.status_code)
    extra = [e for e in exc.extra if isinstance(e, dict)] if isinstance(exc.extra, list) else []
    detail = "; ".join([exc.detail, *(str(e.get("message")) for e in extra)])
    if exc.detail == status.phrase:
        allowed = (exc.headers or {}).get("allow") or "see /schema"
        hints = {
            HTTPStatus.NOT_FOUND: NO_ROUTE,
            HTTPStatus.METHOD_NOT_ALLOWED: f"this route does not accept that method; allowed: {allowed}",
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE: f"request body is over {max_body_bytes or 'the limit of'} bytes; "
            "send a smaller body",
        }
        detail = hints.get(status, detail)
    elif any(e.get("source") == "body" for e in extra):  # Litestar rejects an empty body before decoding it
        detail = f"request body is missing or empty; send a JSON object like {EXAMPLE}"
    return ProblemDetailsException(
        status_code=status, title=status.phrase, detail=detail, headers=exc.headers, type_="about:blank"
    )


def body(exc: BaseException) -> Problem:
    """The problem body of an error, for places that carry it without a response (the stream ``error`` event)."""
    found = problem(exc)
    return Problem(
        type=found.type_ or "about:blank", title=found.title or "", status=found.status_code, detail=found.detail
    )


def openai_body(found: ProblemDetailsException) -> OpenAIError:
    """A problem in the OpenAI error shape ``{"error": {"message", "type", "param", "code"}}``."""
    kind = (found.type_ or "").removeprefix(TYPE_PREFIX)
    if kind == "about:blank":
        kind = HTTPStatus(found.status_code).phrase.lower().replace(" ", "-")
    error_type = "invalid_request_error" if found.status_code < HTTPStatus.INTERNAL_SERVER_ERROR else "api_error"
    code = kind.replace("-", "_")
    return OpenAIError(OpenAIErrorDetail(message=found.detail, type=error_type, param=None, code=code))


def handler(max_body_bytes: int) -> Callable[[Request[Any, Any, Any], Exception], Response[Any]]:
    """The app's one exception handler (its body limit named in 413s)."""

    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        """Every error's response: problem+json, or the OpenAI error shape for anything under ``/v1``."""
        return respond(request, exc, max_body_bytes)

    return handle


def respond(request: Request[Any, Any, Any], exc: BaseException, max_body_bytes: int | None = None) -> Response[Any]:
    """The response to an error: problem+json, or the OpenAI error shape for anything under ``/v1``."""
    limit = getattr(request.scope.get("route_handler"), "request_max_body_size", None)
    found = problem(exc, limit if isinstance(limit, int) and not isinstance(limit, bool) else max_body_bytes)
    if request.url.path == OPENAI_PREFIX or request.url.path.startswith(OPENAI_PREFIX + "/"):
        return Response(openai_body(found), status_code=found.status_code, headers=found.headers)
    return found.to_response(request)
