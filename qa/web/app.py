"""The HTTP app: routes, the engine by dependency injection, one error handler, JSON-only bodies, OpenAPI, CORS."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.types import ControllerRouterHandler
from opentelemetry.sdk.trace import TracerProvider

import qa
from qa.base.policy import parse_keys
from qa.base.settings import Settings
from qa.base.values import comma_list
from qa.service.engine import Encoder, Engine
from qa.web import (
    access,
    chat,
    context,
    documents,
    intake,
    limits,
    logs,
    metrics,
    openapi,
    problems,
    routes,
    traces,
    widget,
)
from qa.web import mcp as model_context
from qa.web.runtime import EngineSlot

# Request threads per process when answers are extractive: two keep a core busy (one thread's ONNX Runtime or numpy
# call runs while the other holds the GIL) and the rest of the requests wait their turn in order; six (Python's
# default here) shared the GIL among all, which stretched each request and most the longest (bench/README.md).
EXTRACTIVE_THREADS = 2
EXPOSED = ["X-Request-ID", "Retry-After", *(f"RateLimit-{part}" for part in ("Limit", "Remaining", "Reset", "Policy"))]


def provide_engine(state: State) -> Engine:
    """The app's engine for a handler, or the 503 error saying why there is none (yet)."""
    slot: EngineSlot = state.slot
    return slot.get()


def provide_settings(state: State) -> Settings:
    """The app's settings for a handler that needs no engine (``GET /v1/models`` answers while it loads)."""
    slot: EngineSlot = state.slot
    return slot.settings


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    encoder: Encoder | None = None,
    handlers: Sequence[ControllerRouterHandler] = (),
    tracer_provider: TracerProvider | None = None,
) -> Litestar:
    """The HTTP app over ``engine``; without one it opens it in the background (with ``encoder`` when given).

    ``handlers`` are added to the app's routes (keys, limits and metrics apply to them as to all); with ``QA_OTEL``
    spans go to ``tracer_provider`` when given, else to the exporters the ``OTEL_*`` variables name.
    """
    slot = EngineSlot(settings, engine, encoder)
    handle = problems.handler(settings.http.max_body_bytes)
    keys = access.Keys(parse_keys(settings.access.api_keys))
    measured = metrics.Metrics(slot)
    limit = limits.config(settings.access, keys)
    tracing = traces.tracing(settings.http, os.environ, tracer_provider)
    mcp_route, mcp_sessions = model_context.endpoint(model_context.Articles(slot.get))
    return Litestar(
        route_handlers=[
            routes.ask,
            routes.healthz,
            routes.healthz_head,
            routes.readyz,
            *documents.handlers(settings),
            chat.router(),
            metrics.MetricsController,
            mcp_route,
            *widget.handlers(),
            *handlers,
        ],
        state=State({"slot": slot, "metrics": measured}),
        dependencies={
            "engine": Provide(provide_engine, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        guards=[access.guard(keys, reads=settings.access.read_keys_required)],
        on_startup=[request_pool(request_threads(settings)), lambda: slot.start()],
        on_shutdown=[lambda: slot.stop(), *tracing.on_shutdown],
        lifespan=[mcp_sessions],
        before_request=intake.require_json,
        before_send=[context.stamp],
        middleware=[
            context.RequestContext(),
            *tracing.middleware,
            metrics.config(measured).middleware,
            *([limit.middleware] if limit else []),
            intake.BodyDeadline(settings.http.body_timeout),
        ],
        plugins=[
            ProblemDetailsPlugin(ProblemDetailsConfig(exception_handler=handle)),
            *openapi.schema_plugins(),
            *tracing.plugins,
        ],
        exception_handlers={Exception: handle},
        openapi_config=OpenAPIConfig(title="articleqa", version=qa.__version__),
        request_max_body_size=settings.http.max_body_bytes,
        cors_config=cors(settings),
        logging_config=logs.config(),
    )


def request_threads(settings: Settings) -> int:
    """Threads for the sync handlers: ``request_threads``, else ``EXTRACTIVE_THREADS`` when the deployment's answers
    are extractive (CPU work), else 0 (Python's default pool: a model server's answers mostly wait on the network)."""
    if settings.http.request_threads:
        return settings.http.request_threads
    return EXTRACTIVE_THREADS if settings.models.llm_model == "extractive" else 0


def request_pool(threads: int) -> Callable[[], None]:
    """A startup hook giving the event loop a pool of ``threads`` for the sync handlers (0: keep Python's default).

    Handlers are CPU-bound: more threads than cores only make the requests in flight take turns, which stretches
    every one of them (the tail most) without finishing more per second.
    """

    def start() -> None:
        if threads:
            pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="qa-request")
            asyncio.get_running_loop().set_default_executor(pool)

    return start


def cors(settings: Settings) -> CORSConfig | None:
    """CORS for browser frontends on the origins in ``cors_origins`` (comma-separated; ``*`` for any), else off.

    Preflights may ask for any header (``Authorization`` included); responses expose the request id and the rate
    limit headers to scripts.
    """
    origins = comma_list(settings.http.cors_origins)
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=EXPOSED,
    )


def app_from_env() -> Litestar:
    """The app configured from ``QA_*`` environment variables, for ``uvicorn --factory qa.web.app:app_from_env``."""
    return create_app(Settings.from_env(os.environ))
