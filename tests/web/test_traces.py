"""Traces over real HTTP: with QA_OTEL a server span per request, named by its route; without it, nothing."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import httpx
import pytest
from conftest import served
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from qa.base.errors import ConfigError
from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.web.app import create_app
from qa.web.traces import exporter, tracing

DOC = "000_f8c65552ac3faefe"
TRACES_OWN_PROTOCOL = {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}


def recorder() -> tuple[TracerProvider, InMemorySpanExporter]:
    """A tracer provider keeping its finished spans in memory."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider, spans


def test_a_request_makes_a_server_span_named_by_its_route(seed_settings: Settings, engine: Engine) -> None:
    provider, spans = recorder()
    app = create_app(seed_settings.replace(otel=True), engine=engine, tracer_provider=provider)
    with served(app, log_level="warning") as port:
        response = httpx.get(f"http://127.0.0.1:{port}/documents/{DOC}", headers={"X-Request-ID": "trace-me"})
        missing = httpx.get(f"http://127.0.0.1:{port}/documents/nope")
    assert response.status_code == 200 and missing.status_code == 404
    server = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert [s.name for s in server] == ["GET /documents/{doc_id}", "GET /documents/{doc_id}"]
    first = server[0].attributes or {}
    assert first["http.route"] == "/documents/{doc_id}" and first["articleqa.request_id"] == "trace-me"
    assert first.get("http.status_code", first.get("http.response.status_code")) == 200
    second = server[1].attributes or {}
    assert second.get("http.status_code", second.get("http.response.status_code")) == 404
    assert not any(DOC in s.name for s in spans.get_finished_spans())
    assert [s.kind for s in spans.get_finished_spans()] == [SpanKind.SERVER] * 2  # no send/receive spans


def test_without_qa_otel_nothing_is_traced(seed_settings: Settings, engine: Engine) -> None:
    provider, spans = recorder()
    app = create_app(seed_settings, engine=engine, tracer_provider=provider)
    assert not any(type(p).__name__ == "OpenTelemetryPlugin" for p in app.plugins)
    with served(app, log_level="warning") as port:
        assert httpx.get(f"http://127.0.0.1:{port}/documents").status_code == 200
    assert spans.get_finished_spans() == ()
    assert tracing(seed_settings.http, {}) == ([], [], [])


class Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver on loopback: keeps each export request it is sent."""

    received: ClassVar[list[ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            self.received.append(ExportTraceServiceRequest.FromString(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def collector() -> Iterator[str]:
    """The receiver's base URL, for OTEL_EXPORTER_OTLP_ENDPOINT."""
    Collector.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_otel_variables_choose_the_exporter(
    seed_settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch, collector: str
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "qa-under-test")
    app = create_app(seed_settings.replace(otel=True), engine=engine)
    with served(app, log_level="warning") as port:
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    # The batch processor is flushed when the app shuts down, so the span has been sent by now.
    [resource] = [r for request in Collector.received for r in request.resource_spans]
    service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
    names = [span.name for scope in resource.scope_spans for span in scope.spans]
    assert service == "qa-under-test" and names == ["GET /healthz"]


@pytest.mark.parametrize(
    ("name", "environ", "kind"),
    [
        ("console", {}, ConsoleSpanExporter),
        ("otlp", {}, GrpcExporter),
        ("otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, HttpExporter),
        ("otlp", TRACES_OWN_PROTOCOL, GrpcExporter),  # the traces' own variable wins
        ("otlp_proto_http", {}, HttpExporter),
    ],
)  # fmt: skip
def test_exporters_by_name(name: str, environ: dict[str, str], kind: type) -> None:
    assert exporter(name, environ) is kind


def test_unknown_exporters_and_protocols_fail_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"OTEL_TRACES_EXPORTER names 'jaeger'.*console"):
        exporter("jaeger", {})
    with pytest.raises(ConfigError, match=r"OTEL_EXPORTER_OTLP_PROTOCOL='http/json'"):
        exporter("otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
