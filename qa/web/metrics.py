"""Prometheus metrics at ``GET /metrics``: requests by route and status, answer timings and counts, the index now.

Each app keeps its metrics in its own registry (Litestar's Prometheus middleware and controller, pointed at it),
so apps in one process never clash. The index figures are read from the engine at scrape time. A handler that
has an answer calls ``observe(answer)``; it counts toward the app serving the request.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Iterator
from typing import Any

import litestar
from litestar import Response
from litestar.datastructures import State
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController, PrometheusMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from qa.base.records import Answer
from qa.web.runtime import EngineSlot

HTTP_PREFIX = "articleqa_http"
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_current: contextvars.ContextVar[Metrics | None] = contextvars.ContextVar("qa_metrics", default=None)


class Metrics:
    """One app's metrics, in a registry of its own."""

    def __init__(self, slot: EngineSlot) -> None:
        self.registry = CollectorRegistry()
        self.http: dict[str, Any] = {}  # the request metrics of Litestar's middleware, made once per app
        self.retrieval = self._histogram("articleqa_retrieval_seconds", "Time to embed the question and search")
        self.answer = self._histogram("articleqa_answer_seconds", "Time to pick and quote the extractive answer")
        self.generation = self._histogram(
            "articleqa_generation_seconds", "Time the language model took to write the answer, by model", ["model"]
        )
        self.answers = Counter("articleqa_answers", "Answers given, by model", ["model"], registry=self.registry)
        self.abstentions = Counter(
            "articleqa_abstentions", "Answers withheld: nothing retrieved was relevant enough", registry=self.registry
        )
        self.registry.register(IndexCollector(slot))
        for standard in (ProcessCollector, PlatformCollector, GCCollector):  # process_*, python_info, python_gc_*
            standard(registry=self.registry)

    def _histogram(self, name: str, documentation: str, labels: tuple[str, ...] | list[str] = ()) -> Histogram:
        """A latency histogram in seconds, in this registry."""
        return Histogram(name, documentation, labels, registry=self.registry, buckets=SECONDS)

    def observe(self, answer: Answer) -> None:
        """Count an answer and its step times (``timings_ms``: embed, search, answer, generate)."""
        took = answer.timings_ms
        self.retrieval.observe((took.get("embed", 0.0) + took.get("search", 0.0)) / 1000)
        self.answer.observe(took.get("answer", 0.0) / 1000)
        self.generation.labels(answer.model).observe(took.get("generate", 0.0) / 1000)
        self.answers.labels(answer.model).inc()
        if not answer.answerable:
            self.abstentions.inc()

    def http_metric(self, kind: type[Counter | Gauge | Histogram], name: str, text: str, labels: list[str]) -> Any:
        """One of the request metrics, made in this registry the first time any route asks for it."""
        if name not in self.http:
            if kind is Histogram:
                self.http[name] = Histogram(name, text, labels, registry=self.registry, buckets=SECONDS)
            else:
                self.http[name] = kind(name, text, labels, registry=self.registry)
        return self.http[name]


def observe(answer: Answer) -> None:
    """Count ``answer`` toward the metrics of the app serving this request (nothing outside a request)."""
    metrics = _current.get()
    if metrics is not None:
        metrics.observe(answer)


class IndexCollector(Collector):
    """The engine as it is when scraped: ready or not, documents and passages in the index, the build served."""

    def __init__(self, slot: EngineSlot) -> None:
        self.slot = slot

    def collect(self) -> Iterator[Metric]:
        """The gauges, read now."""
        engine = self.slot.engine
        ready = float(engine is not None)
        yield GaugeMetricFamily("articleqa_ready", "1 once the model and index are loaded, else 0", value=ready)
        if engine is None:
            return
        state = engine.readiness()
        yield GaugeMetricFamily("articleqa_index_documents", "Documents in the index", value=state.documents)
        yield GaugeMetricFamily("articleqa_index_passages", "Passages in the index", value=state.passages)
        yield GaugeMetricFamily(
            "articleqa_index_revision", "Writes applied to the index since it was built", value=state.revision
        )
        yield InfoMetricFamily(
            "articleqa_index", "The index build served", value={"generation": state.generation, "model": state.model}
        )


@dataclasses.dataclass
class MetricsConfig(PrometheusConfig):
    """Litestar's Prometheus configuration, with the app's metrics to keep the request metrics in."""

    metrics: Metrics | None = None


class RequestMetrics(PrometheusMiddleware):
    """Litestar's Prometheus middleware, counting into the app's registry and binding the app's metrics for
    ``observe`` while a request runs."""

    def __init__(self, app: ASGIApp, config: MetricsConfig) -> None:
        super().__init__(app, config)
        assert config.metrics is not None, "MetricsConfig needs the app's metrics"
        self.metrics = config.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time and count the request, with this app's metrics bound."""
        token = _current.set(self.metrics)
        try:
            await super().__call__(scope, receive, send)
        finally:
            _current.reset(token)

    def request_count(self, labels: dict[str, str | int | float]) -> Counter:
        """Requests, by method, route, status."""
        return self.metrics.http_metric(Counter, f"{HTTP_PREFIX}_requests_total", "Total requests", [*labels])  # type: ignore[no-any-return]

    def request_time(self, labels: dict[str, str | int | float]) -> Histogram:
        """Request durations in seconds, by method, route, status."""
        return self.metrics.http_metric(  # type: ignore[no-any-return]
            Histogram, f"{HTTP_PREFIX}_request_duration_seconds", "Request duration, in seconds", [*labels]
        )

    def requests_in_progress(self, labels: dict[str, str | int | float]) -> Gauge:
        """Requests being answered, by method and route."""
        return self.metrics.http_metric(  # type: ignore[no-any-return]
            Gauge, f"{HTTP_PREFIX}_requests_in_progress", "Requests being answered", [*labels]
        )

    def requests_error_count(self, labels: dict[str, str | int | float]) -> Counter:
        """Requests answered with a 5xx, by method, route, status."""
        return self.metrics.http_metric(  # type: ignore[no-any-return]
            Counter, f"{HTTP_PREFIX}_requests_error_total", "Requests answered with a server error", [*labels]
        )


def config(metrics: Metrics) -> MetricsConfig:
    """The request metrics' configuration: labelled by route template (never the raw path), method and status."""
    return MetricsConfig(
        app_name="articleqa", prefix=HTTP_PREFIX, group_path=True, middleware_class=RequestMetrics, metrics=metrics
    )


class MetricsController(PrometheusController):
    """``GET /metrics``: the app's registry in the Prometheus text format."""

    @litestar.get(include_in_schema=False, sync_to_thread=False)
    def get(self, state: State) -> Response[bytes]:
        """The app's metrics, gathered now."""
        metrics: Metrics = state.metrics
        return Response(generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
