"""Each request's id and access line: a sane incoming ``X-Request-ID`` or a new one, on the response and every log line.

``RequestContext`` (the outermost middleware of every route) binds the id while the request runs and logs the
access line when it ends; ``stamp`` (a ``before_send`` hook, so it sees every response, errors included) puts the
id on the response, and answers for requests no route matched (unknown path or method).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from qa.web.logs import REQUEST_ID

HEADER = "X-Request-ID"
SANE = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
access = logging.getLogger("qa.access")


def request_id(scope: Scope) -> str:
    """The request's own ``X-Request-ID`` when it is sane (1..128 safe characters), else a new random one."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"x-request-id":
            given = value.decode("latin-1").strip()
            if SANE.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


def log_access(scope: Scope, status: int, duration_ms: float | None) -> None:
    """The request's access line: method, path (never the query), status and, when timed, duration."""
    method, path = scope.get("method", ""), scope.get("path", "")
    fields: dict[str, object] = {"method": method, "path": path, "status": status}
    if duration_ms is not None:
        fields["duration_ms"] = duration_ms
    access.info("%s %s %d", method, path, status, extra=fields)


class RequestContext(ASGIMiddleware):
    """Binds the request's id for its log lines, times it and logs its access line at the end."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Run the request with its id bound; log method, path, status and duration when it is done."""
        token = REQUEST_ID.set(request_id(scope))
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before it answers

        async def sending(message: Message) -> None:
            """Pass a message on, noting the status."""
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, sending)
        except BaseException:  # the app's outer error handler answers; the id stays bound for its response
            log_access(scope, status, _since(started))
            raise
        log_access(scope, status, _since(started))
        REQUEST_ID.reset(token)


def _since(started: float) -> float:
    """Milliseconds since a perf_counter reading."""
    return round((time.perf_counter() - started) * 1000, 3)


async def stamp(message: Message, scope: Scope) -> None:
    """Put the request's id on its response; for a request no route matched, also log its access line."""
    if message["type"] != "http.response.start":
        return
    bound = REQUEST_ID.get()
    if bound is None:
        bound = request_id(scope)
        token = REQUEST_ID.set(bound)
        log_access(scope, message["status"], None)
        REQUEST_ID.reset(token)
    MutableScopeHeaders.from_message(message)[HEADER] = bound
