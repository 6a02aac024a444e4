"""The HTTP app: routes, the engine by dependency injection, one error handler, JSON-only bodies, OpenAPI, CORS."""

from __future__ import annotations

import os

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin

import qa
from qa.base.settings import Settings, comma_list
from qa.service.engine import Encoder, Engine
from qa.web import chat, intake, openapi, problems, routes, writes
from qa.web.runtime import EngineSlot


def provide_engine(state: State) -> Engine:
    """The app's engine for a handler, or the 503 error saying why there is none (yet)."""
    slot: EngineSlot = state.slot
    return slot.get()


def provide_settings(state: State) -> Settings:
    """The app's settings for a handler that needs no engine (``GET /v1/models`` answers while it loads)."""
    slot: EngineSlot = state.slot
    return slot.settings


def create_app(settings: Settings, *, engine: Engine | None = None, encoder: Encoder | None = None) -> Litestar:
    """The HTTP app over ``engine``; without one it opens it in the background (with ``encoder`` when given)."""
    slot = EngineSlot(settings, engine, encoder)
    handle = problems.handler(settings.http.max_body_bytes)
    return Litestar(
        route_handlers=[
            routes.ask,
            routes.documents,
            routes.document,
            routes.healthz,
            routes.healthz_head,
            routes.readyz,
            *writes.handlers(settings),
            chat.router(),
        ],
        state=State({"slot": slot}),
        dependencies={
            "engine": Provide(provide_engine, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        on_startup=[lambda: slot.start()],
        on_shutdown=[lambda: slot.stop()],
        before_request=intake.require_json,
        middleware=[intake.BodyDeadline(settings.http.body_timeout)],
        plugins=[ProblemDetailsPlugin(ProblemDetailsConfig(exception_handler=handle)), *openapi.schema_plugins()],
        exception_handlers={Exception: handle},
        openapi_config=OpenAPIConfig(title="articleqa", version=qa.__version__),
        request_max_body_size=settings.http.max_body_bytes,
        cors_config=cors(settings),
    )


def cors(settings: Settings) -> CORSConfig | None:
    """CORS for browser frontends on the origins in ``cors_origins`` (comma-separated; ``*`` for any), else off."""
    origins = comma_list(settings.http.cors_origins)
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins), allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"], allow_headers=["*"]
    )


def app_from_env() -> Litestar:
    """The app configured from ``QA_*`` environment variables, for ``uvicorn --factory qa.web.app:app_from_env``."""
    return create_app(Settings.from_env(os.environ))
