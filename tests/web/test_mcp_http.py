"""The MCP server at /mcp over real HTTP with the official client: tools, quotes that slice, keys, rate limits."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import httpx2
import pytest
from conftest import served
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_checks import TIMEOUT, exercise

from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.web.app import create_app

KEY = "mcp-key-0123456789abcdef"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def closed(seed_settings: Settings, engine: Engine) -> Iterator[str]:
    """The base URL of an app that needs a key for reads too."""
    app = create_app(seed_settings.replace(api_keys=KEY, read_keys_required=True), engine=engine)
    with served(app, log_level="warning") as port:
        yield f"http://127.0.0.1:{port}"


async def session_over_http(url: str, headers: dict[str, str]) -> None:
    """Run the shared checks through the official Streamable HTTP client."""
    with anyio.fail_after(TIMEOUT):
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            streamable_http_client(f"{url}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await exercise(session)


def test_tools_over_streamable_http_with_a_key(closed: str) -> None:
    anyio.run(session_over_http, closed, {"Authorization": f"Bearer {KEY}"})


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-key-0123456789"}])
def test_mcp_without_a_valid_key_is_401(closed: str, headers: dict[str, str]) -> None:
    response = httpx.post(f"{closed}/mcp", json=INITIALIZE, headers=MCP_HEADERS | headers, timeout=30)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith("application/problem+json")
    assert KEY not in response.text


def test_mcp_counts_against_the_rate_limit(seed_settings: Settings, engine: Engine) -> None:
    app = create_app(seed_settings.replace(rate_limit="2/minute"), engine=engine)
    with served(app, log_level="warning") as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        statuses = [http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS, timeout=30).status_code for _ in range(3)]
        last = http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS, timeout=30)
    assert statuses[:2] == [200, 200]
    assert statuses[2] == last.status_code == 429
    assert int(last.headers["retry-after"]) >= 1
