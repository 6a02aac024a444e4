"""Traces (``QA_OTEL=true``): Litestar's OpenTelemetry plugin, exporting as the standard ``OTEL_*`` variables say.

``OTEL_TRACES_EXPORTER`` picks the exporters (``otlp``, the default, over ``OTEL_EXPORTER_OTLP_PROTOCOL``: ``grpc``
or ``http/protobuf``; ``otlp_proto_http``, ``otlp_proto_grpc``, ``console``, ``none``; comma-separated), each
behind a batch processor; ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME`` (default ``articleqa``),
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` and ``OTEL_BSP_*`` are read by the SDK. Each server span is
named by its route template (``GET /documents/{doc_id}``), never the raw path. With ``QA_OTEL`` off nothing is added.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, NamedTuple

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.types import ASGIApp, Receive, Scope, Send
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from qa.base.errors import ConfigError
from qa.base.settings import HttpSettings
from qa.web.logs import REQUEST_ID

GROUP = "opentelemetry_traces_exporter"
PROTOCOLS = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}


class Tracing(NamedTuple):
    """What tracing adds to an app: its plugin, its middleware, and what to run at shutdown (all empty when off)."""

    plugins: list[OpenTelemetryPlugin]
    middleware: list[ASGIMiddleware]
    on_shutdown: list[Callable[[], Any]]


class RouteSpan(ASGIMiddleware):
    """Names the request's server span by its route template once routing has found it, and adds the request id."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Rename the current span ``METHOD /route/{param}`` and set ``http.route``, then run the request."""
        span = trace.get_current_span()
        route = scope.get("path_template")
        if span.is_recording() and route:
            span.update_name(f"{scope.get('method', '')} {route}")
            span.set_attribute("http.route", route)
            span.set_attribute("articleqa.request_id", REQUEST_ID.get() or "")
        await next_app(scope, receive, send)


def tracing(settings: HttpSettings, environ: Mapping[str, str], provider: TracerProvider | None = None) -> Tracing:
    """Tracing for an app: off unless ``otel``; spans go to ``provider``, else to one the environment configures."""
    if not settings.otel:
        return Tracing([], [], [])
    own = provider is None
    provider = provider or tracer_provider(environ)
    plugin = OpenTelemetryPlugin(OpenTelemetryConfig(tracer_provider=provider, exclude_spans=["receive", "send"]))
    return Tracing([plugin], [RouteSpan()], [provider.shutdown] if own else [])


def tracer_provider(environ: Mapping[str, str]) -> TracerProvider:
    """A tracer provider exporting through the exporters ``OTEL_TRACES_EXPORTER`` names, each batched."""
    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "articleqa"}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]:
        if name != "none":
            provider.add_span_processor(BatchSpanProcessor(exporter(name, environ)()))
    return provider


def exporter(name: str, environ: Mapping[str, str]) -> type[SpanExporter]:
    """The span exporter class installed under ``name`` (``otlp`` by the OTLP protocol variables), or ConfigError."""
    if name == "otlp":
        protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        protocol = (protocol or "grpc").strip()
        if protocol not in PROTOCOLS:
            raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: use {' or '.join(PROTOCOLS)}")
        name = PROTOCOLS[protocol]
    found = entry_points(group=GROUP, name=name)
    if not found:
        known = ", ".join(sorted({e.name for e in entry_points(group=GROUP)} | {"otlp", "none"}))
        raise ConfigError(f"OTEL_TRACES_EXPORTER names {name!r}, which is not installed; use one of {known}")
    kind: type[SpanExporter] = next(iter(found)).load()
    return kind
