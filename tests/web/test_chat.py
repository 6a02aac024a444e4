"""/v1/chat/completions and /v1/models driven by the official openai client over real loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from conftest import served

from qa.answers.conversation import standalone
from qa.base.errors import InvalidInput
from qa.base.records import Turn
from qa.base.settings import AnswerSettings, Settings
from qa.service.engine import Engine
from qa.store.embedding import SentenceEncoder
from qa.store.index import Index
from qa.web.app import create_app
from qa.web.chat import ChatMessage, latest, question_of

QUESTION = "Who led the long march to Islamabad?"


@pytest.fixture(scope="module")
def base_url(seed_settings: Settings, seed_index: Index, encoder: SentenceEncoder) -> Iterator[str]:
    """Our app served by uvicorn on an ephemeral 127.0.0.1 port, for the length of the module."""
    settings = seed_settings.replace(max_body_bytes=4096)
    with served(create_app(settings, engine=Engine(settings, encoder, seed_index)), log_level="warning") as port:
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    """The official client pointed at our service."""
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=60)


def test_models_lists_the_allow_list(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["extractive", "openai"]


def test_completion_carries_markers_sources_and_citations(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="extractive", messages=[{"role": "user", "content": QUESTION}])
    content = completion.choices[0].message.content or ""
    assert completion.choices[0].finish_reason == "stop"
    assert "[1]" in content and "\n\nSources:\n[1] " in content
    ext: dict[str, Any] = (completion.model_extra or {})["articleqa"]
    assert ext["grounded"] is True and ext["answerable"] is True
    assert ext["citations"] and all(c["supported"] for c in ext["citations"])
    assert {c["n"] for c in ext["citations"]} <= {p["n"] for p in ext["passages"]}
    for c in ext["citations"]:
        assert f"[{c['n']}]" in content and c["quote"]
        span = c["answer_span"]
        assert span is None or c["start"] <= span["start"] < span["end"] <= c["end"]
    assert any(c["answer_span"] for c in ext["citations"])


def test_streaming_has_citations_once_in_the_last_chunk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="extractive", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    with_ext = [c for c in chunks if (c.model_extra or {}).get("articleqa")]
    assert len(with_ext) == 1 and with_ext[0] is chunks[-1]
    assert chunks[-1].choices[0].finish_reason == "stop"
    plain = client.chat.completions.create(model="extractive", messages=[{"role": "user", "content": QUESTION}])
    assert text == plain.choices[0].message.content
    streamed, whole = (chunks[-1].model_extra or {})["articleqa"], (plain.model_extra or {})["articleqa"]
    assert streamed["citations"] == whole["citations"]


def test_the_history_holds_user_and_assistant_turns_without_sources() -> None:
    question, history = question_of(
        [
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content="Who led the long march to Islamabad?"),
            ChatMessage(role="assistant", content="Mahrang Baloch [1].\n\nSources:\n[1] A title (000_abc)"),
            ChatMessage(role="tool", content="{}"),
            ChatMessage(role="assistant", content=""),
            ChatMessage(role="user", content=[{"type": "text", "text": "And when?"}]),
        ]
    )
    assert question == "And when?"
    assert history == [
        Turn(role="user", text="Who led the long march to Islamabad?"),
        Turn(role="assistant", text="Mahrang Baloch [1]."),
    ]
    assert standalone(question, history) == "And when? led long march Islamabad"
    other = "What did the government say about the missing persons commission?"
    assert standalone(other, history) == other


def test_latest_keeps_the_newest_turns_within_the_limits() -> None:
    turns = [Turn(role="user" if i % 2 == 0 else "assistant", text=f"turn {i}") for i in range(10)]
    assert latest(turns, AnswerSettings(max_history_turns=3)) == turns[-3:]
    assert latest(turns, AnswerSettings(max_history_chars=13)) == turns[-2:], "each turn is 6 characters"
    assert latest(turns, AnswerSettings(max_history_turns=0)) == []


@pytest.mark.parametrize(
    ("messages", "mentions"),
    [
        ([], "messages: Expected `array` of length >= 1"),
        ([{"role": "wizard", "content": "hi"}], "role"),
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], "last message"),
        ([{"role": "user", "content": "   "}], "empty"),
    ],
    ids=["empty", "bad-role", "ends-with-assistant", "blank-question"],
)
def test_bad_conversations_are_openai_errors(client: openai.OpenAI, messages: list[Any], mentions: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="extractive", messages=messages)
    assert info.value.status_code == 400 and mentions in info.value.message


def test_unknown_model_is_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": QUESTION}])
    assert info.value.code == "model_not_found" and "extractive" in info.value.message


def test_raw_bad_bodies_get_the_openai_error_shape(base_url: str) -> None:
    cases = [
        (b"", 400),
        (b"{not json", 400),
        (b'{"model": "extractive"}', 400),
        (b'{"model": "extractive", "messages": "hi"}', 400),
        (b'{"model": "extractive", "messages": [{"role": "user", "content": "' + b"x" * 5000 + b'"}]}', 413),
    ]
    with httpx.Client(timeout=30) as http:
        for body, status in cases:
            response = http.post(f"{base_url}/chat/completions", content=body,
                                 headers={"content-type": "application/json"})  # fmt: skip
            assert response.status_code == status, (body[:40], response.text)
            error = response.json()["error"]
            assert error["type"] == "invalid_request_error" and error["message"].strip()


def test_question_of_needs_a_user_message() -> None:
    with pytest.raises(InvalidInput, match="user"):
        question_of([ChatMessage(role="system", content="You are helpful.")])


def test_stream_is_an_event_stream_ending_in_done(base_url: str) -> None:
    body = {"model": "extractive", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.Client(timeout=30) as http, http.stream("POST", f"{base_url}/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and len(lines) >= 4


def test_short_follow_up_after_a_long_question_is_answered(client: openai.OpenAI) -> None:
    long_question = ((QUESTION + " ") * 30)[:995]  # with the follow-up, over the 1000-character limit
    completion = client.chat.completions.create(
        model="extractive",
        messages=[
            {"role": "user", "content": long_question},
            {"role": "assistant", "content": "Mahrang Baloch [1]."},
            {"role": "user", "content": "and when?"},
        ],
    )
    assert completion.choices[0].finish_reason == "stop" and completion.choices[0].message.content


def test_long_last_message_is_still_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="extractive", messages=[{"role": "user", "content": "a" * 1001}])
    assert info.value.status_code == 400 and "1001" in info.value.message


DEEP = b"[" * 1000 + b"]" * 1000  # past Python's recursion limit


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        (b'{"model":"extractive","messages":[{"role":"user","content":[{"type":"text","extra":' + DEEP + b"}]}]}",
         "nests JSON too deeply"),
        (b'{"model":"extractive","messages":' + DEEP + b"}", "messages[0]"),
    ],
    ids=["in-a-message-part", "in-messages"],
)  # fmt: skip
def test_deeply_nested_body_is_a_400_over_http(base_url: str, body: bytes, mentions: str) -> None:
    with httpx.Client(timeout=30) as http:
        response = http.post(f"{base_url}/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and mentions in error["message"]


@pytest.mark.parametrize("headers", [{"content-type": "text/plain"}, {}], ids=["text-plain", "none"])
def test_body_not_declared_json_is_415_over_http(base_url: str, headers: dict[str, str]) -> None:
    body = b'{"model": "extractive", "messages": [{"role": "user", "content": "Who led the long march?"}]}'
    with httpx.Client(timeout=30) as http:
        response = http.post(f"{base_url}/chat/completions", content=body, headers=headers)
        assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"
        json_response = http.post(
            f"{base_url}/chat/completions", content=body, headers={"content-type": "application/json"}
        )
    assert json_response.status_code == 200
