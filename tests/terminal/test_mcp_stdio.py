"""`qa mcp` over stdio, spawned as a chat app would spawn it, driven by the official MCP client."""

from __future__ import annotations

import os
import sys

import anyio
from conftest import ROOT
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_checks import TIMEOUT, exercise

from qa.base.settings import Settings
from qa.store.index import Index


async def session_over_stdio(server: StdioServerParameters) -> None:
    """Run the shared checks through the official stdio client."""
    with anyio.fail_after(TIMEOUT):
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await exercise(session)


def test_qa_mcp_serves_the_tools_over_stdio(seed_settings: Settings, seed_index: Index) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("QA_")}
    env |= {
        "QA_CORPUS_DIR": str(seed_settings.build.corpus_dir),
        "QA_INDEX_DIR": str(seed_settings.build.index_dir),
        "QA_EMBED_BACKEND": "torch",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    }
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "qa.terminal.cli", "mcp", "--no-build"], env=env, cwd=ROOT
    )
    anyio.run(session_over_stdio, server)
