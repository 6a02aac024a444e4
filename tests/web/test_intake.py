"""What a request must be before it is read: JSON by Content-Type (415 otherwise), a body sent whole in time.

The body deadline and the mid-body hang-up are tested over real loopback sockets against uvicorn (both of its HTTP
implementations), as `qa serve` runs it.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import served
from litestar import Litestar
from litestar.testing import TestClient
from openai_stub import OpenAIStub, Reply
from test_app import assert_openai_error, assert_problem

from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.store.embedding import SentenceEncoder
from qa.store.index import Index
from qa.web.app import create_app
from qa.web.intake import is_json

QUESTION = "Who led the long march to Islamabad?"
ASK = b'{"question": "Who led the long march to Islamabad?"}'
CHAT = b'{"model": "extractive", "messages": [{"role": "user", "content": "Who led the long march to Islamabad?"}]}'
BODY_TIMEOUT = 1.0  # seconds; short so that the tests of the deadline are quick
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "qa", "litestar", "asyncio")


@pytest.fixture(scope="module")
def client(seed_settings: Settings, seed_index: Index, encoder: SentenceEncoder) -> Iterator[TestClient[Any]]:
    """A client of an app that is ready at once."""
    with TestClient(create_app(seed_settings, engine=Engine(seed_settings, encoder, seed_index))) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "media_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8",
     "application/merge-patch+json", "application/vnd.api+json"],
)  # fmt: skip
def test_json_bodies_are_accepted(client: TestClient[Any], media_type: str) -> None:
    assert client.post("/ask", content=ASK, headers={"content-type": media_type}).status_code == 200
    assert client.post("/v1/chat/completions", content=CHAT, headers={"content-type": media_type}).status_code == 200


NOT_JSON = [
    pytest.param("text/plain", id="text-plain"),
    pytest.param("text/plain; charset=utf-8", id="text-plain-charset"),
    pytest.param("application/x-www-form-urlencoded", id="form-urlencoded"),  # what `curl -d` sends without -H
    pytest.param("multipart/form-data; boundary=x", id="multipart"),
    pytest.param("text/json", id="text-json"),
    pytest.param("application/json-seq", id="json-seq"),
    pytest.param("application/+json", id="bare-suffix"),
    pytest.param(None, id="missing"),  # a browser's fetch() of a Blob sends none, with no preflight
]


@pytest.mark.parametrize("media_type", NOT_JSON)
def test_ask_refuses_bodies_not_declared_json(client: TestClient[Any], media_type: str | None) -> None:
    headers = {"content-type": media_type} if media_type else {}
    response = client.post("/ask", content=ASK, headers=headers)
    body = assert_problem(response, 415, "Content-Type: application/json")
    assert (media_type or "no Content-Type").split(";")[0] in body["detail"]
    assert response.headers["accept-post"] == "application/json"


@pytest.mark.parametrize("media_type", NOT_JSON)
def test_chat_refuses_bodies_not_declared_json(client: TestClient[Any], media_type: str | None) -> None:
    headers = {"content-type": media_type} if media_type else {}
    response = client.post("/v1/chat/completions", content=CHAT, headers=headers)
    error = assert_openai_error(response, 415, "Content-Type: application/json")
    assert error["code"] == "unsupported_media_type"


def test_media_type_is_checked_before_the_body(client: TestClient[Any]) -> None:
    assert_problem(client.post("/ask", content=b"not json", headers={"content-type": "text/plain"}), 415)
    too_large = b'{"question": "' + b"a" * 70_000 + b'"}'
    assert_problem(client.post("/ask", content=too_large, headers={"content-type": "text/plain"}), 415)


def test_bodiless_requests_need_no_content_type(client: TestClient[Any]) -> None:
    assert client.get("/documents").status_code == 200
    assert client.get("/v1/models").status_code == 200
    assert client.options("/ask").status_code == 204


@pytest.mark.parametrize(
    ("media_type", "expected"),
    [("application/json", True), ("application/problem+json", True), ("application/+json", False),
     ("application/jsonp", False), ("text/json", False), ("", False), ("json", False)],
)  # fmt: skip
def test_is_json(media_type: str, expected: bool) -> None:
    assert is_json(media_type) is expected


class Records(logging.Handler):
    """Every log record, from any logger it is attached to, once (a record may pass through several)."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not any(seen is record for seen in self.records):
            self.records.append(record)

    def wait(self, count: int, seconds: float = 5.0) -> list[logging.LogRecord]:
        """The records once there are ``count`` (or the time is up), after a short grace for any that follow."""
        deadline = time.monotonic() + seconds
        while len(self.records) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        return list(self.records)


@pytest.fixture
def records() -> Iterator[Records]:
    """Log records of the server (root, uvicorn, Litestar, qa, asyncio) while the test runs."""
    handler = Records()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    """A scripted language model, for answers slower than the body timeout."""
    with OpenAIStub() as server:
        yield server


@pytest.fixture(scope="module")
def app(seed_settings: Settings, seed_index: Index, encoder: SentenceEncoder, stub: OpenAIStub) -> Litestar:
    """The app with a short body timeout and the stub-backed ``openai`` model."""
    settings = seed_settings.replace(
        body_timeout=BODY_TIMEOUT, llm_allowed="extractive,openai", llm_base_url=stub.base_url,
        llm_name="stub-model", llm_max_retries=0, llm_timeout=10.0,
    )  # fmt: skip
    return create_app(settings, engine=Engine(settings, encoder, seed_index))


@pytest.fixture(scope="module", params=["h11", "httptools"])
def port(request: pytest.FixtureRequest, app: Litestar) -> Iterator[int]:
    """The app served by uvicorn (default logging, as `qa serve` runs it) on an ephemeral 127.0.0.1 port."""
    with served(app, http=request.param) as number:
        yield number


def half_sent(port: int, path: str) -> socket.socket:
    """A connection that has sent a JSON POST's headers announcing 1000 bytes, and only the first 21 of them."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    conn.sendall(head.encode() + b'{"question": "Who led')
    return conn


@pytest.mark.parametrize("path", ["/ask", "/v1/chat/completions"])
def test_client_hanging_up_mid_body_is_one_log_line(port: int, path: str, records: Records) -> None:
    conn = half_sent(port, path)
    time.sleep(0.2)  # the server is reading the body
    conn.close()
    found = records.wait(2)
    lines = [r for r in found if r.name != "qa.access"]  # besides the request's own access line
    assert len(lines) == 1, [r.getMessage() for r in found]
    [record] = lines
    message = record.getMessage()
    assert record.exc_info is None and record.stack_info is None and "\n" not in message
    assert record.levelno < logging.WARNING
    assert "went away" in message and path in message and "21 of 1000" in message


@pytest.mark.parametrize("path", ["/ask", "/v1/chat/completions"])
def test_slow_body_is_cut_off_with_408(port: int, path: str, records: Records) -> None:
    with half_sent(port, path) as conn:
        started = time.monotonic()
        reply = b""
        while chunk := conn.recv(65536):  # until the server closes the connection (recv times out after 10 s)
            reply += chunk
        waited = time.monotonic() - started
    assert BODY_TIMEOUT * 0.8 <= waited < BODY_TIMEOUT + 3, waited
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head.lower()
    message = f"within {BODY_TIMEOUT:g} s"
    if path.startswith("/v1/"):
        assert b"content-type: application/json" in head.lower()
        assert message in json.loads(body)["error"]["message"]
    else:
        assert b"content-type: application/problem+json" in head.lower()
        assert message in json.loads(body)["detail"]
    warnings = [r for r in records.wait(1) if r.name == "qa.web"]
    assert len(warnings) == 1 and "too slow" in warnings[0].getMessage() and warnings[0].exc_info is None


def test_answers_slower_than_the_body_timeout_are_not_cut(port: int, stub: OpenAIStub) -> None:
    delay = BODY_TIMEOUT + 0.5
    stub.script(Reply.text("The march was led ", "by Mahrang Baloch [1].", delay=delay))
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        response = http.post("/ask", json={"question": QUESTION, "model": "openai"})
        assert response.status_code == 200, response.text
        assert response.json()["answer"].startswith("The march was led by")
        stub.script(Reply.text("The march was led ", "by Mahrang Baloch [1].", delay=delay))
        streamed = http.post("/ask", json={"question": QUESTION, "model": "openai", "stream": True})
    assert streamed.status_code == 200
    events = [line for line in streamed.text.splitlines() if line.startswith("event: ")]
    assert events[-2:] == ["event: citations", "event: done"], streamed.text[-500:]
