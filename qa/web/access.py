"""Who may call what: routes marked ``opt=WRITE`` need an API key; with ``QA_READ_KEYS_REQUIRED`` the others too.

Probes, the API description and routes marked ``opt=OPEN`` (the widget's demo page and files) stay open:
``/healthz``, ``/readyz``, ``/metrics``, ``/schema``. Keys are compared in constant time against every configured
key, and never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from qa.base.errors import Forbidden, Unauthorized

WRITE: Mapping[str, str] = MappingProxyType({"access": "write"})
OPEN: Mapping[str, str] = MappingProxyType({"access": "open"})
OPEN_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
SCHEMA_PREFIX = "/schema"
SEND_KEY = "send an API key as the header Authorization: Bearer <key>"
Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


class Keys:
    """The configured API keys; ``match`` tells whether a presented key is one of them, in constant time."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = tuple(key.encode() for key in keys)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __repr__(self) -> str:
        return f"Keys({len(self._keys)} configured)"

    def match(self, presented: str) -> bool:
        """Whether ``presented`` is a configured key; every key is compared, so the time says nothing of which."""
        given = presented.encode("utf-8", "surrogateescape")
        found = False
        for key in self._keys:
            found |= hmac.compare_digest(key, given)
        return found


def bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None when there is none."""
    scheme, _, token = connection.headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def fingerprint(key: str) -> str:
    """A stable name for a key that does not reveal it (a sha256 prefix), for rate-limit buckets."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def is_write(handler: BaseRouteHandler) -> bool:
    """Whether a route handler is marked ``opt=WRITE``."""
    return handler.opt.get("access") == WRITE["access"]


def is_open(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> bool:
    """Whether a request is for a route that never needs a key: the probes, the metrics, the API description, and
    handlers marked ``opt=OPEN``."""
    if handler.opt.get("access") == OPEN["access"]:
        return True
    route = str(connection.scope.get("path_template") or connection.scope["path"])
    return route in OPEN_ROUTES or route == SCHEMA_PREFIX or route.startswith(SCHEMA_PREFIX + "/")


def guard(keys: Keys, *, reads: bool) -> Guard:
    """The app-wide guard: writes need a valid key (refused when none is configured); reads too if ``reads``.

    A coroutine, so it runs on the event loop: Litestar hands a plain function to the request threads, where it
    waited behind the answers being computed (bench/README.md, "The HTTP side").
    """

    async def check(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        """Let the request through, or raise Unauthorized (no or a bad key) or Forbidden (writes turned off)."""
        if connection.scope.get("method") == "OPTIONS":
            return
        if is_write(handler):
            if not keys:
                raise Forbidden(
                    "writes are turned off on this server: no API key is configured; "
                    "the operator enables them by setting QA_API_KEYS"
                )
        elif not reads or is_open(connection, handler):
            return
        token = bearer(connection)
        if token is None:
            raise Unauthorized(f"this route needs an API key; {SEND_KEY}")
        if not keys.match(token):
            raise Unauthorized(f"the API key sent is not valid; {SEND_KEY} with a key this server accepts")

    return check
