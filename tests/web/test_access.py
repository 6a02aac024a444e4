"""API keys over real HTTP: write routes need one (and are refused with none configured); reads when required."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import served
from litestar import delete, post
from litestar.testing import TestClient
from test_app import assert_openai_error, assert_problem

import qa.web.access
from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.web.access import WRITE, Keys
from qa.web.app import create_app

KEY = "test-key-0123456789abcdef"
OTHER = "other-key-0123456789abcdef"
WRONG = "wrong-key-0123456789abcdef"
NOTE = {"text": "hello"}


@post("/notes", opt=WRITE, status_code=201, sync_to_thread=False)
def add_note(data: dict[str, str]) -> dict[str, str]:
    """A write route, as the document routes are marked."""
    return data


@delete("/notes/{name:str}", opt={"access": "write"}, sync_to_thread=False)
def drop_note(name: str) -> None:
    """Another, marked with the literal the constant stands for."""


def serve(settings: Settings, engine: Engine) -> Iterator[httpx.Client]:
    """A client of the app with the two test write routes, served on loopback."""
    app = create_app(settings, engine=engine, handlers=[add_note, drop_note])
    with served(app, log_level="warning") as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        yield client


@pytest.fixture(scope="module")
def keyed(seed_settings: Settings, engine: Engine) -> Iterator[httpx.Client]:
    """Keys for writes; reads open (the default)."""
    yield from serve(seed_settings.replace(api_keys=f"{KEY},{OTHER}"), engine)


@pytest.fixture(scope="module")
def unkeyed(seed_settings: Settings, engine: Engine) -> Iterator[httpx.Client]:
    """No key configured."""
    yield from serve(seed_settings, engine)


@pytest.fixture(scope="module")
def closed(seed_settings: Settings, engine: Engine) -> Iterator[httpx.Client]:
    """Keys for reads too (QA_READ_KEYS_REQUIRED)."""
    yield from serve(seed_settings.replace(api_keys=KEY, read_keys_required=True), engine)


def auth(key: str) -> dict[str, str]:
    """The header that sends ``key``."""
    return {"Authorization": f"Bearer {key}"}


def assert_unauthorized(response: httpx.Response, mentions: str) -> None:
    """A 401 problem asking for a Bearer key, quoting no key."""
    body = assert_problem(response, 401, mentions)
    assert body["type"] == "urn:articleqa:problem:unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    assert KEY not in response.text and WRONG not in response.text and OTHER not in response.text


@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": KEY}])
def test_a_write_without_a_key_is_a_401(keyed: httpx.Client, headers: dict[str, str]) -> None:
    assert_unauthorized(keyed.post("/notes", json=NOTE, headers=headers), "Authorization: Bearer <key>")
    assert_unauthorized(keyed.delete("/notes/a", headers=headers), "needs an API key")


@pytest.mark.parametrize("header", [f"Bearer {WRONG}", f"Basic {KEY}", f"Bearer {KEY}x", f"Bearer {KEY[:-1]}"])
def test_a_write_with_a_wrong_key_is_a_401(keyed: httpx.Client, header: str) -> None:
    assert_unauthorized(keyed.post("/notes", json=NOTE, headers={"Authorization": header}), "API key")


@pytest.mark.parametrize("key", [KEY, OTHER])
def test_a_write_with_any_configured_key_goes_through(keyed: httpx.Client, key: str) -> None:
    response = keyed.post("/notes", json=NOTE, headers=auth(key))
    assert response.status_code == 201 and response.json() == NOTE
    scheme_in_capitals = keyed.delete("/notes/a", headers={"Authorization": f"BEARER {key}"})
    assert scheme_in_capitals.status_code == 204


def test_reads_stay_open_unless_required(keyed: httpx.Client) -> None:
    assert keyed.get("/documents").status_code == 200
    assert keyed.post("/ask", json={"question": "Who led the long march?"}).status_code == 200
    assert keyed.get("/v1/models").status_code == 200


def test_writes_are_refused_when_no_key_is_configured(unkeyed: httpx.Client) -> None:
    for response in (
        unkeyed.post("/notes", json=NOTE),
        unkeyed.post("/notes", json=NOTE, headers=auth(KEY)),
        unkeyed.delete("/notes/a", headers=auth(WRONG)),
    ):
        body = assert_problem(response, 403, "QA_API_KEYS")
        assert body["type"] == "urn:articleqa:problem:forbidden"
    assert unkeyed.get("/documents").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/documents"), ("GET", "/documents/000_f8c65552ac3faefe"), ("POST", "/ask")]
)
def test_required_read_keys_guard_reads(closed: httpx.Client, method: str, path: str) -> None:
    body = {"question": "Who led the long march?"} if method == "POST" else None
    assert_unauthorized(closed.request(method, path, json=body), "needs an API key")
    assert_unauthorized(closed.request(method, path, json=body, headers=auth(WRONG)), "not valid")
    assert closed.request(method, path, json=body, headers=auth(KEY)).status_code == 200


def test_required_read_keys_answer_v1_in_openai_shape(closed: httpx.Client) -> None:
    error = assert_openai_error(closed.get("/v1/models"), 401, "Authorization: Bearer <key>")
    assert error["code"] == "unauthorized"
    chat = {"model": "extractive", "messages": [{"role": "user", "content": "Who led the long march?"}]}
    assert_openai_error(closed.post("/v1/chat/completions", json=chat, headers=auth(WRONG)), 401, "not valid")
    assert closed.post("/v1/chat/completions", json=chat, headers=auth(KEY)).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/schema/openapi.json"])
def test_probes_metrics_and_the_schema_stay_open(closed: httpx.Client, path: str) -> None:
    assert closed.get(path).status_code == 200


def test_writes_still_need_a_key_with_reads_keyed(closed: httpx.Client) -> None:
    assert_unauthorized(closed.post("/notes", json=NOTE), "needs an API key")
    assert closed.post("/notes", json=NOTE, headers=auth(KEY)).status_code == 201


def test_the_guard_refuses_before_the_body_is_looked_at(keyed: httpx.Client) -> None:
    response = keyed.post("/notes", content=b"not json", headers={"Content-Type": "text/plain"})
    assert_unauthorized(response, "needs an API key")


def test_keys_are_compared_in_constant_time_against_all(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = qa.web.access.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(qa.web.access.hmac, "compare_digest", counting)
    keys = Keys([KEY, OTHER, "third-key-0123456789abcdef"])
    assert keys.match(KEY) is True  # the first matches; the other two are still compared
    assert len(compared) == 3 and all(given == KEY.encode() for _, given in compared)
    compared.clear()
    assert keys.match(WRONG) is False and len(compared) == 3
    assert keys.match("ключ-ключ-ключ-ключ") is False
    assert KEY not in repr(keys) and "3 configured" in repr(keys)
    assert not Keys([]) and Keys([KEY])


def test_the_write_marker_is_the_agreed_literal() -> None:
    assert dict(WRITE) == {"access": "write"}


def test_options_requests_are_never_guarded(seed_settings: Settings, engine: Engine) -> None:
    app = create_app(seed_settings.replace(api_keys=KEY, read_keys_required=True), engine=engine, handlers=[add_note])
    with TestClient(app) as client:
        response: Any = client.options("/notes")
        assert response.status_code == 204 and "POST" in response.headers["allow"]


@pytest.mark.parametrize("path", ["/", "/widget.js", "/widget.css", "/demo.css"])
def test_the_widget_files_stay_open_when_reads_need_keys(closed: httpx.Client, path: str) -> None:
    response = closed.get(path)
    assert response.status_code == 200 and response.content
    assert_unauthorized(closed.post("/mcp", json={}), "needs an API key")  # a mount's "/" is not the demo page
