"""The rate limit over real HTTP: a 429 problem with Retry-After, per valid key or per client address."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from conftest import served
from litestar import Litestar
from litestar.testing import TestClient
from test_app import assert_openai_error, assert_problem

from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.web.access import Keys
from qa.web.app import create_app
from qa.web.limits import identifier

KEY = "limit-key-0123456789abcdef"
LIMIT = 3
CHAT = {"model": "extractive", "messages": [{"role": "user", "content": "Who led the long march?"}]}


@pytest.fixture
def app(seed_settings: Settings, engine: Engine) -> Litestar:
    """A fresh app (fresh counts) allowing three requests a minute, with one API key."""
    return create_app(seed_settings.replace(rate_limit=f"{LIMIT}/minute", api_keys=KEY), engine=engine)


@pytest.fixture
def client(app: Litestar) -> Iterator[httpx.Client]:
    """A client of that app served on loopback (uvicorn trusts X-Forwarded-For from 127.0.0.1, as behind a proxy)."""
    with served(app, log_level="warning") as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        yield http


def spend(client: httpx.Client, headers: dict[str, str] | None = None) -> None:
    """Use up the allowance of whoever ``headers`` make the caller."""
    for left in reversed(range(LIMIT)):
        response = client.get("/documents", headers=headers)
        assert response.status_code == 200 and response.headers["ratelimit-remaining"] == str(left), response.headers


def test_over_the_limit_is_a_429_problem_with_retry_after(client: httpx.Client) -> None:
    spend(client)
    response = client.get("/documents")
    body = assert_problem(response, 429, f"allows {LIMIT} per minute")
    assert body["type"] == "urn:articleqa:problem:rate-limited" and body["title"] == "Too many requests"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert f"retry in {response.headers['retry-after']} s" in body["detail"]
    assert response.headers["ratelimit-limit"] == str(LIMIT) and response.headers["ratelimit-remaining"] == "0"
    assert response.headers["x-request-id"]
    other_route = client.post("/ask", json={"question": "Who led the long march?"})
    assert_problem(other_route, 429)  # one allowance per caller, whatever the route


def test_v1_is_limited_in_the_openai_shape(client: httpx.Client) -> None:
    spend(client)
    response = client.post("/v1/chat/completions", json=CHAT)
    error = assert_openai_error(response, 429, "retry in")
    assert error["code"] == "rate_limited" and int(response.headers["retry-after"]) >= 1


def test_probes_and_metrics_are_never_limited(client: httpx.Client) -> None:
    spend(client)
    for _ in range(2 * LIMIT):
        for path in ("/healthz", "/readyz", "/metrics"):
            response = client.get(path)
            assert response.status_code == 200 and "ratelimit-limit" not in response.headers, path
    assert client.get("/documents").status_code == 429


def test_each_client_address_has_its_own_allowance(client: httpx.Client) -> None:
    first, second = {"X-Forwarded-For": "198.51.100.7"}, {"X-Forwarded-For": "198.51.100.8"}
    spend(client, first)
    assert client.get("/documents", headers=first).status_code == 429
    spend(client, second)  # another client behind the same proxy is not held back by the first
    assert client.get("/documents").status_code == 200  # nor is the proxy's own address


def test_a_valid_key_has_its_own_allowance_and_made_up_keys_do_not(client: httpx.Client) -> None:
    spend(client)
    made_up = client.get("/documents", headers={"Authorization": "Bearer made-up-key-0123456789abcdef"})
    assert made_up.status_code == 429  # an invented key counts against the address: no fresh allowance
    keyed = {"Authorization": f"Bearer {KEY}"}
    spend(client, keyed)
    assert client.get("/documents", headers=keyed).status_code == 429


def test_no_limit_by_default(seed_settings: Settings, engine: Engine) -> None:
    with served(create_app(seed_settings, engine=engine), log_level="warning") as port:
        for _ in range(2 * LIMIT):
            response = httpx.get(f"http://127.0.0.1:{port}/documents")
            assert response.status_code == 200 and "ratelimit-limit" not in response.headers


class FakeRequest:
    """Just what the identifier reads of a request."""

    def __init__(self, headers: dict[str, str], host: str = "203.0.113.9") -> None:
        self.headers = headers
        self.client = type("Address", (), {"host": host})()


def test_counts_are_named_by_a_hash_of_the_key_never_the_key() -> None:
    identify = identifier(Keys([KEY]))
    name = identify(FakeRequest({"authorization": f"Bearer {KEY}"}))  # type: ignore[arg-type]
    assert name.startswith("key:") and KEY not in name and len(name) == len("key:") + 32
    assert identify(FakeRequest({"authorization": f"Bearer {KEY}"}, "203.0.113.10")) == name  # type: ignore[arg-type]
    assert identify(FakeRequest({"authorization": "Bearer nope"})) == "address:203.0.113.9"  # type: ignore[arg-type]
    assert identify(FakeRequest({})) == "address:203.0.113.9"  # type: ignore[arg-type]


def test_expired_counts_are_swept_from_memory(
    seed_settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("qa.web.limits.SWEEP_EVERY", 3)
    other = "other-key-0123456789abcdef"
    app = create_app(seed_settings.replace(rate_limit="5/second", api_keys=f"{KEY},{other}"), engine=engine)
    store = app.stores.get("rate_limit")
    with TestClient(app) as client:
        for key in (KEY, other):  # two callers' counts, kept for a second
            assert client.get("/documents", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert len(store._store) == 2  # type: ignore[attr-defined]
        time.sleep(1.1)
        assert client.get("/documents").status_code == 200  # the third request sweeps before it counts
        assert len(store._store) == 1  # type: ignore[attr-defined]
