"""What every MCP transport must give a chat app, checked through the official client's session."""

from __future__ import annotations

from typing import Any

from mcp import ClientSession
from mcp.types import CallToolResult, TextContent, TextResourceContents

QUESTION = "Where did the BYC stage its big rally in early 2025?"
TOOLS = {"search", "ask", "get_document"}
TIMEOUT = 180  # seconds for a whole session, model loading included


def text_of(result: CallToolResult) -> str:
    """The text rendering of a tool result (its one text block)."""
    (block,) = result.content
    assert isinstance(block, TextContent)
    return block.text


async def call(session: ClientSession, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A tool's structured result; the call must succeed."""
    result = await session.call_tool(name, arguments)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


async def sliced(session: ClientSession, doc_id: str, start: int, end: int) -> str:
    """``document.text[start:end]`` as ``get_document`` gives it (and as the whole article's resource does)."""
    part = await call(session, "get_document", {"doc_id": doc_id, "start": start, "end": end})
    assert (part["doc_id"], part["start"], part["end"]) == (doc_id, start, end)
    read = await session.read_resource(f"articleqa://documents/{doc_id}")
    (whole,) = read.contents
    assert isinstance(whole, TextResourceContents)
    assert whole.text[start:end] == part["text"]
    assert len(whole.text) == part["length"]
    text: str = part["text"]
    return text


async def exercise(session: ClientSession) -> None:
    """List the tools, ask and search, and check every quote and passage slices its article exactly."""
    await session.initialize()
    listed = await session.list_tools()
    assert {tool.name for tool in listed.tools} == TOOLS
    assert all(tool.description for tool in listed.tools)

    result = await session.call_tool("ask", {"question": QUESTION, "top_k": 3})
    answer = result.structured_content
    assert not result.is_error and answer is not None
    assert answer["answerable"] is True and answer["reason"] is None and 0 <= answer["confidence"] <= 1
    assert answer["citations"], answer
    rendered = text_of(result)
    assert rendered.startswith(answer["answer"])
    for cited in answer["citations"]:
        assert f"[{cited['n']}]" in answer["answer"]
        assert await sliced(session, cited["doc_id"], cited["start"], cited["end"]) == cited["quote"]
        assert f"({cited['doc_id']}, characters {cited['start']}-{cited['end']})" in rendered
        span = cited["answer_span"]
        if span is not None:
            assert cited["start"] <= span["start"] < span["end"] <= cited["end"]

    found = await call(session, "search", {"question": QUESTION, "top_k": 4})
    assert [p["rank"] for p in found["passages"]] == [1, 2, 3, 4]
    for passage in found["passages"]:
        assert await sliced(session, passage["doc_id"], passage["start"], passage["end"]) == passage["text"]
    assert any(c["doc_id"] == found["passages"][0]["doc_id"] for c in answer["citations"])

    filtered = await call(session, "search", {"question": QUESTION, "filter": {"doc_ids": ["no-such-doc"]}})
    assert filtered["passages"] == []

    missing = await session.call_tool("get_document", {"doc_id": "no-such-doc"})
    assert missing.is_error and "no-such-doc" in text_of(missing) and "not-found" in text_of(missing)
    doc_id = answer["citations"][0]["doc_id"]
    backwards = await session.call_tool("get_document", {"doc_id": doc_id, "start": 10, "end": 5})
    assert backwards.is_error and "start <= end" in text_of(backwards)
    blank = await session.call_tool("ask", {"question": "   "})
    assert blank.is_error and "question is empty" in text_of(blank)

    resources = await session.list_resources()
    assert f"articleqa://documents/{doc_id}" in {str(r.uri) for r in resources.resources}
