"""The HTTP app: answers over the seed index, RFC 9457 problems for every bad request, and the loading states."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

import qa.service.lifecycle
from qa.answers import decision
from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.store.embedding import SentenceEncoder
from qa.store.index import Index
from qa.web.app import create_app

PROBLEM = "application/problem+json"
QUESTION = "Who led the long march to Islamabad?"


@pytest.fixture(scope="module")
def client(seed_settings: Settings, seed_index: Index, encoder: SentenceEncoder) -> Iterator[TestClient[Any]]:
    """A client of an app that is ready at once (index and model given)."""
    with TestClient(create_app(seed_settings, engine=Engine(seed_settings, encoder, seed_index))) as test_client:
        yield test_client


def assert_problem(response: httpx.Response, status: int, mentions: str | None = None) -> dict[str, Any]:
    """Check an RFC 9457 problem response and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] and body["title"]
    assert isinstance(body["detail"], str) and body["detail"].strip()
    assert "Traceback" not in body["detail"]
    if mentions:
        assert mentions in body["detail"], body["detail"]
    return body


def wait_for(client: TestClient[Any], path: str, done: Any, seconds: float = 5.0) -> httpx.Response:
    """Poll ``path`` until ``done(response)`` holds or the time is up; return the last response."""
    deadline = time.monotonic() + seconds
    response = client.get(path)
    while not done(response) and time.monotonic() < deadline:
        time.sleep(0.05)
        response = client.get(path)
    return response


def test_ask_answers_with_exact_passages_and_citations(client: TestClient[Any]) -> None:
    response = client.post("/ask", json={"question": QUESTION, "top_k": 4})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {
        "question",
        "answerable",
        "answer",
        "confidence",
        "reason",
        "model",
        "grounded",
        "citations",
        "invalid_citations",
        "flagged_passages",
        "dropped_passages",
        "passages",
        "timings_ms",
    }
    assert body["model"] == "extractive" and body["grounded"] is True and body["invalid_citations"] == []
    assert body["question"] == QUESTION
    assert body["answerable"] is True and body["reason"] is None and body["answer"]
    assert 0.0 <= body["confidence"] <= 1.0
    assert body["timings_ms"]["total"] >= 0
    passages = body["passages"]
    assert 1 <= len(passages) <= 4
    assert [p["rank"] for p in passages] == list(range(1, len(passages) + 1))
    assert [p["score"] for p in passages] == sorted((p["score"] for p in passages), reverse=True)
    texts = {}
    for passage in passages:
        doc = client.get(f"/documents/{passage['doc_id']}").json()
        texts[doc["id"]] = doc["text"]
        assert doc["text"][passage["start"] : passage["end"]] == passage["text"]
        assert passage["title"] == doc["title"]
    assert body["citations"]
    ranks = {p["rank"]: p for p in passages}
    for citation in body["citations"]:
        assert f"[{citation['n']}]" in body["answer"]
        assert ranks[citation["n"]]["doc_id"] == citation["doc_id"]
        text = texts.get(citation["doc_id"]) or client.get(f"/documents/{citation['doc_id']}").json()["text"]
        assert text[citation["start"] : citation["end"]] == citation["quote"]
        span = citation["answer_span"]  # the short answer inside the quote, or null
        assert span is None or citation["start"] <= span["start"] < span["end"] <= citation["end"]
    assert any(c["answer_span"] for c in body["citations"])


def test_ask_defaults_top_k(client: TestClient[Any], seed_settings: Settings) -> None:
    response = client.post("/ask", json={"question": QUESTION})
    assert response.status_code == 200
    assert len(response.json()["passages"]) == seed_settings.answers.default_top_k


def test_ask_explain_gives_scores_and_settings(
    client: TestClient[Any], seed_settings: Settings, seed_index: Index
) -> None:
    response = client.post("/ask", json={"question": QUESTION, "top_k": 6, "explain": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answerable"] is True and body["reason"] is None
    passages = body["passages"]
    assert len(passages) == 6
    for passage in passages:
        scores = passage["scores"]
        assert set(scores) == {"dense", "keyword", "sentence", "fused", "rerank"}
        assert scores["sentence"] is None or 0.0 <= scores["sentence"] <= 1.0
        assert isinstance(scores["dense"], float) and -1.0 <= scores["dense"] <= 1.0
        assert isinstance(scores["keyword"], (int, float)) and scores["keyword"] >= 0
        assert isinstance(scores["fused"], float) and scores["fused"] == passage["score"]
        assert scores["rerank"] is None
    fused = [p["scores"]["fused"] for p in passages]
    assert fused == sorted(fused, reverse=True)
    assert any(p["scores"]["keyword"] > 0 for p in passages)
    manifest = seed_index.manifest
    assert body["explain"] == {
        "fusion": seed_settings.search.fusion,
        "dense_weight": seed_settings.search.dense_weight,
        "keyword_weight": seed_settings.search.keyword_weight,
        "sentence_weight": seed_settings.search.sentence_weight,
        "rrf_k": seed_settings.search.rrf_k,
        "candidates": seed_settings.search.candidates,
        "bm25_k1": seed_settings.build.bm25_k1,
        "bm25_b": seed_settings.build.bm25_b,
        "reranker": None,
        "rerank_depth": seed_settings.search.rerank_depth,
        "chunk_tokens": seed_settings.build.chunk_tokens,
        "chunk_overlap": seed_settings.build.chunk_overlap,
        "embed_title": seed_settings.build.embed_title,
        "model": manifest.model,
        "embed_backend": "torch",
        "index_generation": manifest.generation,
        "abstain_threshold": decision.load().threshold,
        "dense_index": "flat",
        "dense_recall_at_10": 1.0,
    }
    assert manifest.model == seed_settings.build.model


def test_ask_explain_on_an_unanswerable_question(client: TestClient[Any]) -> None:
    body = client.post("/ask", json={"question": "What is the boiling point of tungsten?", "explain": True}).json()
    assert body["answerable"] is False and body["reason"] == "no_relevant_passage"
    assert 0.0 <= body["confidence"] <= 1.0
    assert body["explain"]["abstain_threshold"] > body["confidence"]
    assert all(set(p["scores"]) == {"dense", "keyword", "sentence", "fused", "rerank"} for p in body["passages"])


@pytest.mark.parametrize("extra", [{}, {"explain": False}], ids=["omitted", "false"])
def test_ask_without_explain_has_no_scores(client: TestClient[Any], extra: dict[str, Any]) -> None:
    body = client.post("/ask", json={"question": QUESTION, **extra}).json()
    assert "explain" not in body
    assert body["passages"] and all("scores" not in p for p in body["passages"])


def test_documents_lists_the_seeds(client: TestClient[Any]) -> None:
    response = client.get("/documents")
    assert response.status_code == 200
    docs = response.json()
    assert len(docs) == 5
    assert all(d["title"].strip() and d["id"] and d["length"] > 0 for d in docs)
    assert "text" not in docs[0]
    one = client.get(f"/documents/{docs[0]['id']}").json()
    assert one["id"] == docs[0]["id"] and len(one["text"]) == docs[0]["length"]


def test_health_ready_and_openapi(client: TestClient[Any], seed_index: Index) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "documents": 5,
        "passages": len(seed_index.passages),
        "model": seed_index.manifest.model,
        "generation": seed_index.manifest.generation,
        "revision": 0,
        "pid": os.getpid(),  # the process that answered: the test client runs the app in this one
    }
    schema = client.get("/schema/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "articleqa"
    assert {"/ask", "/documents", "/documents/{doc_id}", "/healthz", "/readyz"} <= set(schema.json()["paths"])
    components = schema.json()["components"]["schemas"]
    body_ref = schema.json()["paths"]["/ask"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request = components[body_ref.rsplit("/", 1)[1]]
    assert request["properties"]["explain"]["type"] == "boolean"
    assert "explain" not in request.get("required", [])
    response = next(v for k, v in components.items() if k.endswith("AskResponse"))
    assert "explain" not in response.get("required", [])
    assert response["properties"]["explain"]["oneOf"] == [{"$ref": "#/components/schemas/Explain"}]  # never null
    passage = next(v for k, v in components.items() if k.endswith("PassageOut"))
    assert "scores" not in passage.get("required", [])
    assert passage["properties"]["scores"]["oneOf"] == [{"$ref": "#/components/schemas/ScoresOut"}]
    scores = next(v for k, v in components.items() if k.endswith("ScoresOut"))
    assert set(scores["properties"]) == {"dense", "keyword", "sentence", "fused", "rerank"}
    explain = next(v for k, v in components.items() if k.endswith("Explain"))
    assert {
        "fusion",
        "dense_weight",
        "keyword_weight",
        "sentence_weight",
        "rrf_k",
        "candidates",
        "bm25_k1",
        "bm25_b",
        "reranker",
        "rerank_depth",
        "chunk_tokens",
        "chunk_overlap",
        "embed_title",
        "model",
        "embed_backend",
        "index_generation",
        "abstain_threshold",
        "dense_index",
        "dense_recall_at_10",
    } == set(explain["properties"])


LONG = "a" * 1001  # one over the default max_question_chars
BAD_REQUESTS = [
    pytest.param("POST", "/ask", b'{"top_k": 3}', 400, "question", id="missing-question"),
    pytest.param("POST", "/ask", b'{"question": ""}', 400, "question", id="empty-question"),
    pytest.param("POST", "/ask", b'{"question": "  \\n\\t "}', 400, "question", id="blank-question"),
    pytest.param("POST", "/ask", f'{{"question": "{LONG}"}}'.encode(), 400, "question", id="long-question"),
    pytest.param("POST", "/ask", b'{"question": 42}', 400, "question", id="question-number"),
    pytest.param("POST", "/ask", b'{"question": ["who?"]}', 400, "question", id="question-list"),
    pytest.param("POST", "/ask", b'{"question": null}', 400, "question", id="question-null"),
    pytest.param("POST", "/ask", b'{"question": "who?", "top_k": 0}', 400, "top_k", id="top_k-0"),
    pytest.param("POST", "/ask", b'{"question": "who?", "top_k": 51}', 400, "top_k", id="top_k-51"),
    pytest.param("POST", "/ask", b'{"question": "who?", "top_k": -1}', 400, "top_k", id="top_k-negative"),
    pytest.param("POST", "/ask", b'{"question": "who?", "top_k": "5"}', 400, "top_k", id="top_k-string"),
    pytest.param("POST", "/ask", b'{"question": "who?", "top_k": 2.5}', 400, "top_k", id="top_k-float"),
    pytest.param("POST", "/ask", b'{"question": "who?", "top_k": true}', 400, "top_k", id="top_k-bool"),
    pytest.param("POST", "/ask", b'{"question": "who?", "colour": "red"}', 400, "colour", id="unknown-field"),
    pytest.param("POST", "/ask", b'{"question": "who?", "explain": "yes"}', 400, "explain:", id="explain-string"),
    pytest.param("POST", "/ask", b'{"question": "who?", "explain": 1}', 400, "explain:", id="explain-number"),
    pytest.param("POST", "/ask", b'{"question": "who?", "explain": null}', 400, "explain:", id="explain-null"),
    pytest.param("POST", "/ask", b"not json", 400, "JSON", id="not-json"),
    pytest.param("POST", "/ask", b"", 400, "empty", id="empty-body"),
    pytest.param("POST", "/ask", b'["who?"]', 400, "object", id="json-array"),
    pytest.param("POST", "/ask", b'"who?"', 400, "object", id="json-string"),
    pytest.param("POST", "/ask", b'{"question": "' + b"a" * 70_000 + b'"}', 413, "bytes", id="body-too-large"),
    pytest.param("GET", "/documents/no-such-doc", None, 404, "no-such-doc", id="unknown-document"),
    pytest.param("GET", "/no/such/route", None, 404, "/schema", id="unknown-route"),
    pytest.param("GET", "/ask", None, 405, "POST", id="wrong-method-ask"),
    pytest.param("DELETE", "/documents", None, 405, "GET", id="wrong-method-documents"),
]


@pytest.mark.parametrize(("method", "path", "content", "status", "mentions"), BAD_REQUESTS)
def test_bad_requests_are_problems(
    client: TestClient[Any], method: str, path: str, content: bytes | None, status: int, mentions: str
) -> None:
    headers = {"content-type": "application/json"} if content is not None else {}
    assert_problem(client.request(method, path, content=content, headers=headers), status, mentions)


class Records(logging.Handler):
    """Keeps log records (Litestar's logging setup replaces the root handlers that caplog relies on)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_unexpected_error_is_a_generic_500(
    seed_settings: Settings, seed_index: Index, encoder: SentenceEncoder
) -> None:
    app = create_app(seed_settings, engine=Engine(seed_settings, encoder, seed_index))

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    app.state.slot.engine.stream = broken
    handler = Records()
    logging.getLogger("qa.web").addHandler(handler)
    try:
        with TestClient(app) as test_client:
            body = assert_problem(test_client.post("/ask", json={"question": QUESTION}), 500)
    finally:
        logging.getLogger("qa.web").removeHandler(handler)
    assert "secret" not in body["detail"]
    assert any(r.exc_info and "secret internals" in str(r.exc_info[1]) for r in handler.records)


def test_not_ready_when_the_index_is_missing(seed_settings: Settings, fake_encoder: Any, tmp_path: Path) -> None:
    settings = seed_settings.replace(index_dir=tmp_path / "empty")
    with TestClient(create_app(settings, encoder=fake_encoder)) as test_client:
        assert test_client.get("/healthz").json() == {"status": "ok"}
        response = wait_for(test_client, "/readyz", lambda r: "qa index" in r.text)
        assert_problem(response, 503, "qa index")
        assert_problem(test_client.post("/ask", json={"question": QUESTION}), 503, "qa index")
        assert_problem(test_client.get("/documents"), 503, "qa index")


def test_loading_then_ready(
    seed_settings: Settings, seed_index: Index, fake_encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    release, calls = threading.Event(), []

    def slow_load(*args: Any, **kwargs: Any) -> Index:
        calls.append(args)
        release.wait(5)
        return seed_index

    monkeypatch.setattr(qa.service.lifecycle, "load", slow_load)
    app = create_app(seed_settings, encoder=fake_encoder)
    with TestClient(app) as test_client:
        assert test_client.get("/healthz").status_code == 200
        assert_problem(test_client.get("/readyz"), 503, "loading")
        assert_problem(test_client.post("/ask", json={"question": QUESTION}), 503, "loading")
        release.set()
        ready = wait_for(test_client, "/readyz", lambda r: r.status_code == 200)
        assert ready.status_code == 200 and ready.json()["documents"] == 5
        assert test_client.get("/documents").status_code == 200
    with TestClient(app) as test_client:  # a second startup does not load again
        assert test_client.get("/readyz").status_code == 200
    assert len(calls) == 1


def assert_openai_error(response: httpx.Response, status: int, mentions: str | None = None) -> dict[str, Any]:
    """Check an error in OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``) and return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    error: dict[str, Any] = body["error"]
    assert error["type"] == ("invalid_request_error" if status < 500 else "api_error")
    assert error["param"] is None and isinstance(error["code"], str) and error["code"]
    assert error["message"].strip() and "Traceback" not in error["message"]
    if mentions:
        assert mentions in error["message"], error["message"]
    return error


DEPTH = 1000  # past Python's recursion limit: msgspec raised RecursionError (a 500) on bodies nested this deep
DEEP_ARRAY = "[" * DEPTH + "]" * DEPTH
DEEP_OBJECT = '{"a":' * DEPTH + "1" + "}" * DEPTH
DEEP_BODIES = [
    pytest.param("/ask", '{"question": "who?", "extra": %s}', id="ask-extra-field"),
    pytest.param("/ask", '{"question": %s}', id="ask-question"),
    pytest.param("/ask", '{"question": "who?", "top_k": %s}', id="ask-top_k"),
    pytest.param("/ask", "%s", id="ask-whole-body"),
    pytest.param(
        "/v1/chat/completions",
        '{"model":"extractive","messages":[{"role":"user","content":[{"type":"text","text":"x","extra":%s}]}]}',
        id="chat-message-part",
    ),
    pytest.param(
        "/v1/chat/completions",
        '{"model": "extractive", "messages": [{"role": "user", "content": [%s]}]}',
        id="chat-content",
    ),
    pytest.param("/v1/chat/completions", '{"model": "extractive", "messages": %s}', id="chat-messages"),
    pytest.param("/v1/chat/completions", "%s", id="chat-whole-body"),
]


@pytest.mark.parametrize("nested", [DEEP_ARRAY, DEEP_OBJECT], ids=["arrays", "objects"])
@pytest.mark.parametrize(("path", "template"), DEEP_BODIES)
def test_deeply_nested_json_is_a_client_error(client: TestClient[Any], path: str, template: str, nested: str) -> None:
    body = (template % nested).encode()
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    if path.startswith("/v1/"):
        assert_openai_error(response, 400)
    else:
        assert_problem(response, 400)


@pytest.mark.parametrize(
    ("method", "path", "status", "mentions"),
    [
        ("GET", "/v1/nope", 404, "/schema"),
        ("GET", "/v1", 404, "/schema"),
        ("POST", "/v1/nope", 404, "/schema"),
        ("GET", "/v1/chat/completions", 405, "POST"),
        ("DELETE", "/v1/models", 405, "GET"),
        ("POST", "/v1/models", 405, "GET"),
        ("GET", "/v1/documents", 404, "/schema"),
    ],
)
def test_routing_errors_under_v1_are_openai_errors(
    client: TestClient[Any], method: str, path: str, status: int, mentions: str
) -> None:
    response = client.request(method, path)
    error = assert_openai_error(response, status, mentions)
    assert error["code"] == {404: "not_found", 405: "method_not_allowed"}[status]
    if status == 405:
        assert mentions in response.headers["allow"]


def test_head_healthz_is_200_without_a_body(client: TestClient[Any]) -> None:
    response = client.head("/healthz")
    assert response.status_code == 200 and response.content == b""
