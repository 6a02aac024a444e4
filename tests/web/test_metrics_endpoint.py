"""``GET /metrics`` over real HTTP: request counts by route template and status, answer metrics, the index now."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import served
from litestar import Litestar
from prometheus_client.parser import text_string_to_metric_families

from qa.base.records import Answer
from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.service.wire import Readiness
from qa.web.app import create_app
from qa.web.metrics import Metrics, observe
from qa.web.runtime import EngineSlot

QUESTION = "Who led the long march to Islamabad?"
NONSENSE = "What is the airspeed velocity of an unladen swallow carrying a coconut?"
CHAT = {"model": "extractive", "messages": [{"role": "user", "content": QUESTION}]}
DOC = "000_f8c65552ac3faefe"


def scrape(client: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of ``/metrics`` by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """One sample's value (0 when it is not there yet); ``labels`` need only name some of its labels."""
    wanted = set(labels.items())
    found = [v for (n, have), v in samples.items() if n == name and wanted <= have]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


@pytest.fixture(scope="module")
def app(seed_settings: Settings, engine: Engine) -> Litestar:
    """The app over the seed index."""
    return create_app(seed_settings, engine=engine)


@pytest.fixture(scope="module")
def client(app: Litestar) -> Iterator[httpx.Client]:
    """A client of it, served on loopback."""
    with served(app, log_level="warning") as port, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
        yield c


def test_answers_move_the_answer_and_request_metrics(client: httpx.Client) -> None:
    before = scrape(client)
    assert client.post("/ask", json={"question": QUESTION}).json()["answerable"] is True
    streamed = client.post("/ask", json={"question": QUESTION, "stream": True})
    assert streamed.status_code == 200 and "event: done" in streamed.text
    assert client.post("/ask", json={"question": NONSENSE}).json()["answerable"] is False
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    chat_stream = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert chat_stream.status_code == 200 and "[DONE]" in chat_stream.text
    assert client.post("/ask", json={"question": ""}).status_code == 400  # refused: no answer to count
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("articleqa_answers_total", model="extractive") == 5
    assert moved("articleqa_abstentions_total") == 1
    for name in ("articleqa_retrieval_seconds", "articleqa_answer_seconds"):
        assert moved(f"{name}_count") == 5 and moved(f"{name}_sum") > 0, name
    assert moved("articleqa_retrieval_seconds_bucket", le="+Inf") == 5
    assert moved("articleqa_generation_seconds_count", model="extractive") == 5
    ask = {"method": "POST", "path": "/ask"}
    assert moved("articleqa_http_requests_total", **ask, status_code="200") == 3
    assert moved("articleqa_http_requests_total", **ask, status_code="400") == 1
    assert moved("articleqa_http_request_duration_seconds_count", **ask, status_code="200") == 3
    assert moved("articleqa_http_requests_total", path="/v1/chat/completions", status_code="200") == 2


def test_requests_are_labelled_by_route_template_not_raw_path(client: httpx.Client) -> None:
    assert client.get(f"/documents/{DOC}").status_code == 200
    assert client.get("/documents/no-such-document").status_code == 404
    samples = scrape(client)
    template = {"method": "GET", "path": "/documents/{doc_id}"}
    assert value(samples, "articleqa_http_requests_total", **template, status_code="200") >= 1
    assert value(samples, "articleqa_http_requests_total", **template, status_code="404") >= 1
    assert not any(DOC in dict(labels).get("path", "") for _, labels in samples)


def test_index_gauges_match_the_engine(client: httpx.Client, engine: Engine) -> None:
    state = engine.readiness()
    samples = scrape(client)
    assert value(samples, "articleqa_ready") == 1
    assert value(samples, "articleqa_index_documents") == state.documents == 5
    assert value(samples, "articleqa_index_passages") == state.passages > 5
    assert value(samples, "articleqa_index_info", generation=state.generation, model=state.model) == 1
    assert value(samples, "process_resident_memory_bytes") > 0 and value(samples, "python_info") == 1


class Changed:
    """An engine whose index has changed under the server (documents added, a new build)."""

    def readiness(self) -> Readiness:
        return Readiness(status="ready", documents=7, passages=99, model="m", generation="g2", revision=3)


def test_index_gauges_are_read_at_scrape_time(seed_settings: Settings, engine: Engine) -> None:
    app = create_app(seed_settings, engine=engine)
    slot: EngineSlot = app.state.slot
    with served(app, log_level="warning") as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        assert value(scrape(client), "articleqa_index_documents") == 5
        slot.engine = Changed()  # type: ignore[assignment]
        samples = scrape(client)
        assert value(samples, "articleqa_index_documents") == 7 and value(samples, "articleqa_index_passages") == 99
        assert value(samples, "articleqa_index_revision") == 3
        assert value(samples, "articleqa_index_info", generation="g2") == 1
        slot.engine = None  # still loading
        samples = scrape(client)
        assert value(samples, "articleqa_ready") == 0 and value(samples, "articleqa_index_documents") == 0


def test_apps_in_one_process_keep_their_own_metrics(seed_settings: Settings, engine: Engine) -> None:
    first, second = create_app(seed_settings, engine=engine), create_app(seed_settings, engine=engine)
    with (
        served(first, log_level="warning") as one,
        served(second, log_level="warning") as two,
        httpx.Client(base_url=f"http://127.0.0.1:{one}") as a,
        httpx.Client(base_url=f"http://127.0.0.1:{two}") as b,
    ):
        assert a.post("/ask", json={"question": QUESTION}).status_code == 200
        assert value(scrape(a), "articleqa_answers_total", model="extractive") == 1
        assert value(scrape(b), "articleqa_answers_total", model="extractive") == 0
        assert value(scrape(b), "articleqa_http_requests_total", path="/ask") == 0


def answer(**changes: Any) -> Answer:
    """An answer with given step times."""
    timings = {"embed": 4.0, "search": 6.0, "answer": 2.0, "generate": 1500.0, "total": 1512.0}
    fields: dict[str, Any] = {
        "question": "q", "answerable": True, "answer": "a", "confidence": 0.9, "reason": None, "citations": (),
        "hits": (), "timings_ms": timings, "model": "openai",
    }  # fmt: skip
    return Answer(**{**fields, **changes})


def test_observe_converts_milliseconds_and_counts_by_model(engine: Engine) -> None:
    metrics = Metrics(EngineSlot(engine.settings, engine))
    metrics.observe(answer())
    metrics.observe(answer(answerable=False, model="extractive"))
    get = metrics.registry.get_sample_value
    assert get("articleqa_retrieval_seconds_sum") == pytest.approx(0.020)  # (4 + 6) ms, twice
    assert get("articleqa_retrieval_seconds_bucket", {"le": "0.005"}) == 0
    assert get("articleqa_retrieval_seconds_bucket", {"le": "0.01"}) == 2
    assert get("articleqa_generation_seconds_sum", {"model": "openai"}) == pytest.approx(1.5)
    assert get("articleqa_answers_total", {"model": "openai"}) == 1
    assert get("articleqa_answers_total", {"model": "extractive"}) == 1
    assert get("articleqa_abstentions_total") == 1


def test_observe_outside_a_request_counts_nowhere() -> None:
    observe(answer())  # no app is serving: nothing to count toward, and no error
