"""The rate limit (``QA_RATE_LIMIT``): Litestar's middleware, counting per valid API key or else per client address.

Only a valid key gets its own count (by a hash of it, never the key): a made-up key counts against the address,
so inventing keys buys no extra requests. Behind a proxy the address is the client's once uvicorn trusts the
proxy's ``X-Forwarded-For`` (``QA_FORWARDED_ALLOW_IPS``). A refused request gets a 429 problem with
``Retry-After`` (the OpenAI error shape under ``/v1``). Counts live in the app's memory: each worker limits alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware, get_remote_address
from litestar.stores.memory import MemoryStore
from litestar.types import Receive, Scope, Send

from qa.base.errors import RateLimited
from qa.base.policy import parse_rate
from qa.base.settings import AccessSettings
from qa.web import problems
from qa.web.access import Keys, bearer, fingerprint

EXEMPT = ["^/healthz$", "^/readyz$", "^/metrics$", r"^/widget\.(js|css)$", r"^/demo\.css$"]
SWEEP_EVERY = 1000  # requests between sweeps of expired counts from memory


def identifier(keys: Keys) -> Callable[[Request[Any, Any, Any]], str]:
    """Whose count a request goes to: its API key's (hashed) when the key is valid, else its client address's."""

    def identify(request: Request[Any, Any, Any]) -> str:
        """The count's name for ``request``."""
        token = bearer(request)
        if token is not None and keys.match(token):
            return f"key:{fingerprint(token)}"
        return f"address:{get_remote_address(request)}"

    return identify


class Limiter(RateLimitMiddleware):
    """Litestar's rate-limit middleware, answering a refusal itself as the app's problem (so every outer middleware,
    the metrics and the access log among them, sees the 429) and now and then forgetting expired counts."""

    def __init__(self, app: Any, config: RateLimitConfig) -> None:
        super().__init__(app, config)
        self.seen = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request and pass it on, or answer 429 with ``Retry-After`` and the ``RateLimit-*`` headers."""
        self.seen += 1
        if self.seen % SWEEP_EVERY == 0:
            store = self.config.get_store_from_app(scope["litestar_app"])
            if isinstance(store, MemoryStore):
                await store.delete_expired()
        try:
            await super().__call__(scope, receive, send)
        except TooManyRequestsException as exc:  # raised before the app ran: the handler's own are answered inside
            headers = dict(exc.headers or {})
            wait = max(1, int(headers.get(self.config.rate_limit_reset_header_key, "1")))
            error = RateLimited(
                f"too many requests: this server allows {self.max_requests} per {self.unit}; retry in {wait} s",
                retry_after=wait,
            )
            request: Request[Any, Any, Any] = Request(scope, receive)
            response = problems.respond(request, error)
            response.headers.update(headers)
            await response.to_asgi_response(app=None, request=request)(scope, receive, send)


def config(settings: AccessSettings, keys: Keys) -> RateLimitConfig | None:
    """The rate-limit configuration of ``QA_RATE_LIMIT`` (None: no limit); the probes, the metrics and the widget's
    static files are never limited."""
    rate = parse_rate(settings.rate_limit)
    if rate is None:
        return None
    return RateLimitConfig(
        rate_limit=(rate.unit, rate.requests),
        exclude=EXEMPT,
        identifier_for_request=identifier(keys),
        middleware_class=Limiter,
    )
