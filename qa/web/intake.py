"""What a request must be before its body is read: JSON by its Content-Type, sent whole within the body timeout."""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.exceptions import ClientException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

log = logging.getLogger("qa.web")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
SEND_JSON = "send the body as JSON with the header Content-Type: application/json"
JSON_LINES = frozenset({"application/x-ndjson", "application/jsonl", "application/json-lines"})


class BodyTimeout(ClientException):
    """The client did not send the whole body in time: a 408 that closes the connection."""

    status_code = HTTPStatus.REQUEST_TIMEOUT


class ClientGone(ClientException):
    """The client closed the connection before sending the whole body; nobody reads the answer."""


def is_json(media_type: str) -> bool:
    """Whether a (lower-cased, parameter-free) media type is JSON: ``application/json`` or ``application/*+json``."""
    kind, _, subtype = media_type.partition("/")
    return kind == "application" and (subtype == "json" or (subtype.endswith("+json") and len(subtype) > 5))


async def require_json(request: Request[Any, Any, Any]) -> None:
    """Refuse a body that is not declared JSON (415), so no browser can send one without a CORS preflight.

    A coroutine, so it runs on the event loop rather than in a request thread (as the access guard).

    A route marked ``opt={"lines": True}`` takes JSON Lines (``application/x-ndjson`` or ``application/jsonl``).
    """
    if request.method not in BODY_METHODS:
        return
    media_type, _ = request.content_type
    if is_json(media_type):
        return
    if media_type in JSON_LINES and request.route_handler.opt.get("lines"):
        return
    declared = f"Content-Type {media_type}" if media_type else "no Content-Type"
    raise ClientException(
        status_code=HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        detail=f"the request body has {declared}; {SEND_JSON}",
        headers={"accept-post": "application/json"},
    )


class BodyDeadline(ASGIMiddleware):
    """Bounds the time from a request's headers to its body's last byte, and turns a mid-body hang-up into one line."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Run the app with a ``receive`` that raises BodyTimeout or ClientGone until the body is complete."""
        deadline = asyncio.get_running_loop().time() + self.seconds
        whole, received = False, 0

        async def bounded() -> ReceiveMessage:
            """The next message; while the body is incomplete, only in time and only from a connected client."""
            nonlocal whole, received
            if whole:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                log.warning(
                    "request body too slow (over %g s): %s; answered 408 and closed the connection",
                    self.seconds,
                    _partial(scope, received),
                )
                raise BodyTimeout(
                    detail=f"the request body did not arrive within {self.seconds:g} s; send it whole, at once",
                    headers={"connection": "close"},
                ) from None
            if message["type"] == "http.disconnect":
                log.info("client went away mid-body: %s", _partial(scope, received))
                raise ClientGone(detail="the client closed the connection before sending the whole body")
            if message["type"] == "http.request":
                received += len(message["body"])
                whole = not message.get("more_body", False)
            return message

        await next_app(scope, bounded, send)


def _partial(scope: Scope, received: int) -> str:
    """An incomplete request in a few words: route, client, and how much of the body came."""
    client = scope.get("client")
    who = f"{client[0]}:{client[1]}" if client else "unknown client"
    length = dict(scope["headers"]).get(b"content-length", b"?").decode("latin-1")
    return f"{scope.get('method', '')} {scope['path']} from {who}, {received} of {length} body bytes received"
