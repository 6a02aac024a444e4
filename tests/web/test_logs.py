"""Logs over real HTTP, served as `qa serve` serves: JSON lines, a request id on each response and line, no keys."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from conftest import served
from litestar import Litestar, post

from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.store.embedding import SentenceEncoder
from qa.store.index import Index
from qa.web.access import WRITE
from qa.web.app import create_app
from qa.web.logs import JsonFormatter

QUESTION = "Who led the long march to Islamabad?"
KEY = "log-key-0123456789abcdef"
WRONG = "not-the-key-0123456789abcdef"
GENERATED = re.compile(r"[0-9a-f]{32}")
CLIENT_LOGGERS = ("httpx", "httpcore")  # the test's own client logs in this process too


@post("/notes", opt=WRITE, status_code=201, sync_to_thread=False)
def add_note(data: dict[str, str]) -> dict[str, str]:
    """A write route."""
    return data


class Log:
    """The JSON lines the app's own log handler wrote."""

    def __init__(self, buffer: io.StringIO) -> None:
        self.buffer = buffer

    def lines(self) -> list[dict[str, Any]]:
        """Every line so far, each parsed (each must be one JSON object), but the test client's own."""
        parsed = [json.loads(line) for line in self.buffer.getvalue().splitlines()]
        return [line for line in parsed if not line["logger"].startswith(CLIENT_LOGGERS)]

    def of(self, request_id: str) -> list[dict[str, Any]]:
        """The lines of one request."""
        return [line for line in self.lines() if line.get("request_id") == request_id]


@contextmanager
def serving(app: Litestar) -> Iterator[tuple[httpx.Client, Log]]:
    """The app served as `qa serve` serves it (uvicorn's logging left to the app, no uvicorn access log), with the
    app's JSON handler writing into a buffer."""
    [handler] = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    try:
        with (
            served(app, log_config=None, access_log=False) as port,
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
        ):
            yield client, Log(buffer)
    finally:
        handler.setStream(sys.stderr)


@pytest.fixture(scope="module")
def app(seed_settings: Settings, encoder: SentenceEncoder, seed_index: Index) -> Litestar:
    """The app with a write route, a key, and an ``openai`` model whose server is down (for a logged error)."""
    settings = seed_settings.replace(
        api_keys=KEY, llm_base_url="http://127.0.0.1:9/v1", llm_name="down", llm_max_retries=0, llm_timeout=5.0
    )
    return create_app(settings, engine=Engine(settings, encoder, seed_index), handlers=[add_note])


@pytest.fixture
def served_app(app: Litestar) -> Iterator[tuple[httpx.Client, Log]]:
    """A client of the app and its log."""
    with serving(app) as pair:
        yield pair


def access_line(log: Log, request_id: str) -> dict[str, Any]:
    """The one access line of a request."""
    [line] = [line for line in log.of(request_id) if line["logger"] == "qa.access"]
    return line


def test_every_line_is_json_and_uvicorn_speaks_through_the_app(served_app: tuple[httpx.Client, Log]) -> None:
    client, log = served_app
    assert client.get("/healthz").status_code == 200
    lines = log.lines()
    assert any(line["logger"] == "uvicorn.error" for line in lines)  # "Application startup complete." etc.
    assert not any(line["logger"] == "uvicorn.access" for line in lines)
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line)
        assert datetime.fromisoformat(line["time"]).tzinfo is not None


def test_the_access_line_carries_the_given_request_id(served_app: tuple[httpx.Client, Log]) -> None:
    client, log = served_app
    response = client.get("/documents?secret=1", headers={"X-Request-ID": "req-42.abc"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "req-42.abc"
    line = access_line(log, "req-42.abc")
    assert line["level"] == "INFO" and line["message"] == "GET /documents 200"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/documents", 200)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert "secret" not in json.dumps(log.lines())  # the query string is never logged


@pytest.mark.parametrize("given", ["a" * 129, "has space", "semi;colon", "<script>", "ünï".encode(), ""])
def test_an_unsafe_request_id_is_replaced(served_app: tuple[httpx.Client, Log], given: str | bytes) -> None:
    client, log = served_app
    response = client.get("/healthz", headers={"X-Request-ID": given})
    ident = response.headers["x-request-id"]
    assert GENERATED.fullmatch(ident) and ident != given
    assert access_line(log, ident)["status"] == 200


def test_a_long_safe_request_id_is_kept(served_app: tuple[httpx.Client, Log]) -> None:
    client, _ = served_app
    given = "trace:" + "x" * 122
    assert client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"] == given


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/ask", {"question": ""}, 400),  # a problem from a handler
        ("GET", "/nowhere", None, 404),  # no route matched
        ("DELETE", "/documents", None, 405),  # no such method
        ("POST", "/notes", {"a": "b"}, 401),  # refused by the guard
        ("GET", "/v1/nowhere", None, 404),  # an OpenAI-shaped error
    ],
)
def test_errors_carry_the_request_id_too(
    served_app: tuple[httpx.Client, Log], method: str, path: str, body: Any, status: int
) -> None:
    client, log = served_app
    response = client.request(method, path, json=body, headers={"X-Request-ID": f"err-{status}-{method}"})
    assert response.status_code == status and response.headers["x-request-id"] == f"err-{status}-{method}"
    assert access_line(log, f"err-{status}-{method}")["status"] == status


def test_every_line_of_a_request_carries_its_id(served_app: tuple[httpx.Client, Log]) -> None:
    client, log = served_app
    response = client.post("/ask", json={"question": QUESTION, "model": "openai"})
    assert response.status_code == 502
    ident = response.headers["x-request-id"]
    lines = log.of(ident)
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert errors and all(line["logger"].startswith("qa.") for line in errors)
    assert access_line(log, ident)["status"] == 502


def test_keys_and_authorization_never_reach_the_log(served_app: tuple[httpx.Client, Log]) -> None:
    client, log = served_app
    assert client.post("/notes", json={"a": "b"}, headers={"Authorization": f"Bearer {KEY}"}).status_code == 201
    assert client.post("/notes", json={"a": "b"}, headers={"Authorization": f"Bearer {WRONG}"}).status_code == 401
    assert client.get("/documents", headers={"Authorization": f"Bearer {WRONG}"}).status_code == 200
    text = json.dumps(log.lines())
    assert text.count('"logger": "qa.access"') >= 3
    assert KEY not in text and WRONG not in text and "bearer" not in text.lower()
    assert "authorization" not in text.lower()


def test_the_formatter_keeps_one_record_on_one_line() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord("qa.test", logging.ERROR, __file__, 1, "two\nlines: %s", ("ü",), sys.exc_info())
    record.status = 500
    text = JsonFormatter().format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert line["message"] == "two\nlines: ü" and line["status"] == 500 and line["level"] == "ERROR"
    assert "ValueError: bad" in line["exception"] and "request_id" not in line
