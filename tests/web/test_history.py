"""Conversations over real loopback HTTP: ``history`` on /ask, assistant messages on /v1, and bad histories."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from conftest import served

from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.store.embedding import SentenceEncoder
from qa.store.index import Index
from qa.web.app import create_app

FIRST = "How many protests were recorded in Balochistan in 2023?"
FOLLOW_UP = "And how many of them were in Quetta?"
MAX_TURNS = 4


@pytest.fixture(scope="module")
def base_url(seed_settings: Settings, seed_index: Index, encoder: SentenceEncoder) -> Iterator[str]:
    """Our app, with room for at most four earlier turns, served by uvicorn on an ephemeral 127.0.0.1 port."""
    settings = seed_settings.replace(max_history_turns=MAX_TURNS, max_history_chars=3000)
    with served(create_app(settings, engine=Engine(settings, encoder, seed_index)), log_level="warning") as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    """A plain HTTP client of the served app."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def chat(base_url: str) -> openai.OpenAI:
    """The official openai client pointed at the served /v1."""
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0, timeout=60)


def test_ask_with_history_answers_the_follow_up_with_the_new_figure(http: httpx.Client) -> None:
    first = http.post("/ask", json={"question": FIRST})
    assert first.status_code == 200, first.text
    assert "813" in first.json()["answer"]
    history = [{"role": "user", "content": FIRST}, {"role": "assistant", "content": first.json()["answer"]}]
    response = http.post("/ask", json={"question": FOLLOW_UP, "history": history})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "554" in body["answer"] and "813" not in body["answer"], body["answer"]
    assert body["question"].startswith(FOLLOW_UP) and "Balochistan" in body["question"], "echoes what was searched"
    assert all("Quetta" in c["quote"] for c in body["citations"])


def test_v1_reads_the_assistant_reply_between_the_questions(chat: openai.OpenAI) -> None:
    first = chat.chat.completions.create(model="extractive", messages=[{"role": "user", "content": FIRST}])
    reply = first.choices[0].message.content or ""
    assert "813" in reply and "\n\nSources:\n" in reply
    second = chat.chat.completions.create(
        model="extractive",
        messages=[
            {"role": "system", "content": "Answer from the articles."},
            {"role": "user", "content": FIRST},
            {"role": "assistant", "content": reply},
            {"role": "user", "content": FOLLOW_UP},
        ],
    )
    answer = (second.choices[0].message.content or "").split("\n\nSources:\n")[0]
    assert "554" in answer and "813" not in answer, answer


def test_v1_uses_the_latest_turns_of_a_long_conversation(chat: openai.OpenAI) -> None:
    padding: list[Any] = [
        {"role": "user", "content": "Who is Bilawal Baloch?"},
        {"role": "assistant", "content": "A Marxist."},
    ]
    messages = padding * 5 + [
        {"role": "user", "content": "Where did the BYC hold a big rally in early 2025?"},
        {"role": "assistant", "content": "In early 2025, the BYC held a massive protest rally in Dalbandin. [1]"},
        {"role": "user", "content": "What happened in that town in August 2018?"},
    ]  # fmt: skip
    completion = chat.chat.completions.create(model="extractive", messages=messages)
    assert "suicide attack" in (completion.choices[0].message.content or "")


@pytest.mark.parametrize(
    ("history", "mentions"),
    [
        ([{"role": "wizard", "content": "hi"}], "history[0].role: Invalid enum value 'wizard' (use one of"),
        ([{"role": "system", "content": "hi"}], "history[0].role"),
        ([{"role": "user"}], "history[0]: Object missing required field `content`"),
        ([{"role": "user", "content": 42}], "history[0].content: Expected `str`, got `int`"),
        ([{"role": "user", "content": "hi", "name": "x"}], "unknown field `name`"),
        ("Who is Bilawal Baloch?", "history: Expected `array`, got `str`"),
        ([{"role": "user", "content": "hi"}] * (MAX_TURNS + 1), "the limit is 4 (QA_MAX_HISTORY_TURNS)"),
        ([{"role": "user", "content": "x" * 3001}], "the limit is 3000 (QA_MAX_HISTORY_CHARS)"),
    ],
    ids=["bad-role", "system-role", "no-content", "content-not-text", "unknown-field", "not-a-list", "too-many",
         "too-long"],
)  # fmt: skip
def test_bad_history_is_a_problem(http: httpx.Client, history: Any, mentions: str) -> None:
    response = http.post("/ask", json={"question": FOLLOW_UP, "history": history})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == "urn:articleqa:problem:invalid-input" and body["status"] == 400
    assert mentions in body["detail"], body["detail"]


@pytest.mark.parametrize(
    ("message", "mentions"),
    [
        ({"role": "assistant", "content": 42}, "messages[1].content"),
        ({"role": "wizard", "content": "hi"}, "messages[1].role is 'wizard'"),
    ],
)
def test_bad_history_under_v1_is_an_openai_error(http: httpx.Client, message: Any, mentions: str) -> None:
    messages = [{"role": "user", "content": FIRST}, message, {"role": "user", "content": FOLLOW_UP}]
    response = http.post("/v1/chat/completions", json={"model": "extractive", "messages": messages})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and mentions in error["message"], error
