"""POST /ask with a language model: typed SSE events, checked citations, and failures as events or problems."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from openai_stub import OpenAIStub, Reply

from qa.base.sentences import split_sentences
from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.store.embedding import SentenceEncoder
from qa.store.index import Index
from qa.web.app import create_app

QUESTION = "Who led the long march to Islamabad?"


def events_of(body: str) -> list[tuple[str, Any]]:
    """Parse an SSE body into (event, JSON data) pairs."""
    out = []
    for block in body.replace("\r\n", "\n").strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        out.append((fields.get("event", "message"), json.loads(fields["data"])))
    return out


@pytest.fixture(scope="module")
def llm_settings(seed_settings: Settings, openai_stub_module: OpenAIStub) -> Settings:
    """Seed settings with the openai backend allowed, pointed at the stub, with instant retries."""
    return seed_settings.replace(
        llm_allowed="extractive,openai", llm_base_url=openai_stub_module.base_url, llm_name="stub-model",
        llm_max_retries=1, llm_timeout=10.0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def openai_stub_module() -> Iterator[OpenAIStub]:
    """One stub server for the module."""
    with OpenAIStub() as stub:
        yield stub


@pytest.fixture(scope="module")
def client(llm_settings: Settings, seed_index: Index, encoder: SentenceEncoder) -> Iterator[TestClient[Any]]:
    """A ready app whose allow-list includes the stub-backed openai model."""
    with TestClient(create_app(llm_settings, engine=Engine(llm_settings, encoder, seed_index))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def top_sentence(llm_settings: Settings, seed_index: Index, encoder: SentenceEncoder) -> str:
    """The first sentence of the question's top passage: a claim that passage [1] supports."""
    hit = Engine(llm_settings, encoder, seed_index).draft(QUESTION, 3).hits[0]
    start, end = split_sentences(hit.passage.text)[0]
    return " ".join(hit.passage.text[start:end].split())


def test_extractive_stream_has_typed_events_in_order(client: TestClient[Any]) -> None:
    response = client.post("/ask", json={"question": QUESTION, "top_k": 3, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = events_of(response.text)
    names = [name for name, _ in events]
    assert names[0] == "passages" and names[-2:] == ["citations", "done"]
    assert set(names[1:-2]) == {"token"} and len(names) > 3
    passages, final = events[0][1], events[-2][1]
    assert [p["rank"] for p in passages["passages"]] == [1, 2, 3] and passages["model"] == "extractive"
    text = "".join(data["text"] for name, data in events if name == "token")
    plain = client.post("/ask", json={"question": QUESTION, "top_k": 3}).json()
    assert text == final["answer"] == plain["answer"]
    assert final["citations"] == plain["citations"] and final["grounded"] is True
    assert all(c["supported"] for c in final["citations"])


def test_openai_answer_is_checked(client: TestClient[Any], openai_stub_module: OpenAIStub, top_sentence: str) -> None:
    openai_stub_module.script(Reply.text(top_sentence[:20], top_sentence[20:] + " [1]", " It also cites [7]."))
    body = client.post("/ask", json={"question": QUESTION, "top_k": 3, "model": "openai"}).json()
    assert body["model"] == "openai"
    assert body["invalid_citations"] == [7] and "[7]" not in body["answer"]
    supported = [c for c in body["citations"] if c["n"] == 1]
    assert supported and supported[0]["supported"] is True
    assert body["grounded"] is False  # a marker pointed at no passage
    sent = openai_stub_module.requests[-1].body
    assert sent["model"] == "stub-model" and sent["stream"] is True
    assert "[1]" in sent["messages"][1]["content"] and "only" in sent["messages"][0]["content"]


def test_openai_supported_answer_is_grounded(
    client: TestClient[Any], openai_stub_module: OpenAIStub, top_sentence: str
) -> None:
    openai_stub_module.script(Reply.text(top_sentence + " [1]"))
    body = client.post("/ask", json={"question": QUESTION, "top_k": 3, "model": "openai"}).json()
    assert body["grounded"] is True and body["invalid_citations"] == []
    assert [c["supported"] for c in body["citations"]] == [True]


def test_openai_unsupported_claim_is_not_grounded(client: TestClient[Any], openai_stub_module: OpenAIStub) -> None:
    openai_stub_module.script(Reply.text("The march was paid for by the World Bank in 1987 [1]."))
    body = client.post("/ask", json={"question": QUESTION, "top_k": 3, "model": "openai"}).json()
    assert [c["supported"] for c in body["citations"]] == [False]
    assert body["grounded"] is False


def test_openai_stream_failure_is_an_error_event(client: TestClient[Any], openai_stub_module: OpenAIStub) -> None:
    openai_stub_module.script(Reply.broken("The march was led ", "by"))
    response = client.post("/ask", json={"question": QUESTION, "model": "openai", "stream": True})
    assert response.status_code == 200
    events = events_of(response.text)
    names = [name for name, _ in events]
    assert names[0] == "passages" and names[-1] == "error" and "citations" not in names
    assert "".join(d["text"] for n, d in events if n == "token") == "The march was led by"
    problem = events[-1][1]
    assert problem["status"] == 502 and "broke off" in problem["detail"]


def test_openai_retries_after_429(client: TestClient[Any], openai_stub_module: OpenAIStub, top_sentence: str) -> None:
    before = len(openai_stub_module.requests)
    openai_stub_module.script(Reply.failure(429, "slow down", retry_after="0"), Reply.text(top_sentence + " [1]"))
    body = client.post("/ask", json={"question": QUESTION, "top_k": 3, "model": "openai"}).json()
    assert len(openai_stub_module.requests) - before == 2
    assert body["grounded"] is True


def test_unreachable_model_is_a_502_problem(
    seed_settings: Settings, seed_index: Index, encoder: SentenceEncoder
) -> None:
    settings = seed_settings.replace(
        llm_allowed="openai", llm_model="openai", llm_base_url="http://127.0.0.1:9/v1", llm_name="m", llm_max_retries=0
    )
    with TestClient(create_app(settings, engine=Engine(settings, encoder, seed_index))) as test_client:
        response = test_client.post("/ask", json={"question": QUESTION})
    assert response.status_code == 502 and response.headers["content-type"].startswith("application/problem+json")
    assert "127.0.0.1:9" in response.json()["detail"] and "QA_LLM_BASE_URL" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"question": QUESTION, "model": "gpt-9"}, "must be one of extractive, openai"),
        ({"question": QUESTION, "model": 3}, "model"),
        ({"question": "", "stream": True}, "question: Expected `str` of length >= 1"),
        ({"question": QUESTION, "stream": "yes"}, "stream"),
    ],
    ids=["unknown-model", "model-not-string", "empty-question-streaming", "stream-not-bool"],
)
def test_bad_requests_fail_before_streaming(client: TestClient[Any], body: dict[str, Any], mentions: str) -> None:
    response = client.post("/ask", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert mentions in response.json()["detail"]


def test_cors_is_off_by_default_and_configurable(
    client: TestClient[Any], llm_settings: Settings, seed_index: Index, encoder: SentenceEncoder
) -> None:
    origin = {"Origin": "https://chat.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/ask", headers=origin).headers
    settings = llm_settings.replace(cors_origins="https://chat.example")
    with TestClient(create_app(settings, engine=Engine(settings, encoder, seed_index))) as test_client:
        preflight = test_client.options("/v1/chat/completions", headers=origin)
        assert preflight.headers["access-control-allow-origin"] == "https://chat.example"
        other = test_client.options("/ask", headers={**origin, "Origin": "https://evil.example"})
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"


def test_unconfigured_model_is_a_503_naming_the_setting(
    seed_settings: Settings, seed_index: Index, encoder: SentenceEncoder
) -> None:
    with TestClient(create_app(seed_settings, engine=Engine(seed_settings, encoder, seed_index))) as test_client:
        response = test_client.post("/ask", json={"question": QUESTION, "model": "openai"})
    assert response.status_code == 503 and response.headers["content-type"].startswith("application/problem+json")
    assert "QA_LLM_NAME" in response.json()["detail"]


def test_chat_stream_failure_is_an_error_chunk(client: TestClient[Any], openai_stub_module: OpenAIStub) -> None:
    openai_stub_module.script(Reply.broken("The march "))
    body = {"model": "openai", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    data = [line[6:] for line in response.text.replace("\r\n", "\n").splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if "choices" in c) == "The march "
    assert "broke off" in chunks[-1]["error"]["message"] and chunks[-1]["error"]["type"] == "api_error"


def test_one_error_map_for_answers_streams_and_v1(client: TestClient[Any], openai_stub_module: OpenAIStub) -> None:
    before = len(openai_stub_module.requests)
    openai_stub_module.script(*[Reply.failure(401, "invalid api key")] * 4)
    ask = {"question": QUESTION, "model": "openai"}
    plain = client.post("/ask", json=ask)
    assert plain.status_code == 502 and plain.headers["content-type"].startswith("application/problem+json")
    problem = plain.json()
    assert problem["type"] == "urn:articleqa:problem:model-error" and "QA_LLM_API_KEY" in problem["detail"]

    streamed = client.post("/ask", json={**ask, "stream": True})
    assert streamed.status_code == 200
    events = events_of(streamed.text)
    assert [name for name, _ in events] == ["passages", "error"]
    assert events[-1][1] == problem

    openai_error = {"error": {"message": problem["detail"], "type": "api_error", "param": None, "code": "model_error"}}
    chat = {"model": "openai", "messages": [{"role": "user", "content": QUESTION}]}
    answered = client.post("/v1/chat/completions", json=chat)
    assert answered.status_code == 502 and answered.json() == openai_error
    chunked = client.post("/v1/chat/completions", json={**chat, "stream": True})
    data = [line[6:] for line in chunked.text.replace("\r\n", "\n").splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]" and json.loads(data[-2]) == openai_error
    assert len(openai_stub_module.requests) - before == 4  # one model call each, no retries


def test_upstream_error_text_reaches_no_caller_and_no_log(
    client: TestClient[Any], openai_stub_module: OpenAIStub, caplog: pytest.LogCaptureFixture
) -> None:
    leaked = "upstream says: Authorization: Bearer sk-echoed-secret-9"
    before = len(openai_stub_module.requests)
    openai_stub_module.script(*[Reply.failure(500, leaked, retry_after="0")] * 8)  # 4 calls, each retried once
    ask = {"question": QUESTION, "model": "openai"}
    chat = {"model": "openai", "messages": [{"role": "user", "content": QUESTION}]}
    with caplog.at_level("DEBUG"):
        bodies = [
            client.post("/ask", json=ask).text,
            client.post("/ask", json={**ask, "stream": True}).text,
            client.post("/v1/chat/completions", json=chat).text,
            client.post("/v1/chat/completions", json={**chat, "stream": True}).text,
        ]
    assert "HTTP 500" in bodies[0] and len(openai_stub_module.requests) - before == 8
    for text in [*bodies, caplog.text]:
        assert "sk-echoed-secret-9" not in text and "upstream says" not in text
