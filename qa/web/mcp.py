"""The Model Context Protocol edge (the official ``mcp`` SDK): tools and document resources for chat apps.

Tools ``search``, ``ask`` and ``get_document`` call ``qa.service.tools``; each result carries structured content
with the field names of ``POST /ask`` and a text rendering of it. Articles are resources
``articleqa://documents/{doc_id}``. ``endpoint`` serves it over Streamable HTTP at ``/mcp`` inside the app (keys,
rate limits, metrics and logs apply as to every route); ``qa mcp`` serves the same server over stdio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, TypeVar

import anyio
import msgspec
from litestar import Litestar, asgi
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, Resource, TextContent, ToolAnnotations
from pydantic import Field

import qa
from qa.base.errors import QAError
from qa.service import tools
from qa.service.engine import Engine

PATH = "/mcp"
SCHEME = "articleqa://documents"
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
INSTRUCTIONS = (
    "Answers questions from an archive of news articles with exact citations: every quote is "
    "document.text[start:end] of the article it names. Use `ask` for an answer with citations, `search` for the "
    "passages alone, and `get_document` (or the articleqa://documents/{doc_id} resources) to read an article."
)
Question = Annotated[str, Field(description="The question, in words; not blank.")]
TopK = Annotated[int | None, Field(description="How many passages to retrieve (default QA_DEFAULT_TOP_K, 5).", ge=1)]
Where = Annotated[tools.FilterArgs | None, Field(description="Limit the articles drawn on (all given must hold).")]
History = Annotated[
    list[tools.MessageArgs] | None,
    Field(description="The conversation so far, oldest first; a follow-up question is made self-contained from it."),
]
EngineSource = Callable[[], Engine]
T = TypeVar("T")
SEARCH = (
    "Find the passages of the articles that best match a question, best first; each names its article (doc_id, "
    "title) and its exact place in it (text == document.text[start:end])."
)
ASK = (
    "Answer a question from the articles: the answer with [n] markers and its citations (doc_id, title, start, end, "
    "quote == document.text[start:end], answer_span), or an abstention (answerable false, with a reason) when the "
    "articles do not say."
)
GET_DOCUMENT = "Read an article, whole or its characters start..end (the offsets citations and passages give)."


class Articles(MCPServer[Any]):
    """The MCP server over an engine: the tools, and every article listed as a resource."""

    def __init__(self, engine: EngineSource) -> None:
        super().__init__("articleqa", version=qa.__version__, instructions=INSTRUCTIONS)
        self.engine = engine
        self.add_tool(self.search, description=SEARCH, annotations=READ_ONLY)
        self.add_tool(self.ask, description=ASK, annotations=READ_ONLY)
        self.add_tool(self.get_document, description=GET_DOCUMENT, annotations=READ_ONLY)
        self.resource(f"{SCHEME}/{{doc_id}}", name="article", mime_type="text/plain")(self.article)

    def search(self, question: Question, top_k: TopK = None, filter: Where = None) -> CallToolResult:
        """The passages for a question (SEARCH)."""
        found = _call(lambda: tools.search(self.engine(), question, top_k, filter))
        return _result(found, tools.search_text(found))

    def ask(
        self, question: Question, history: History = None, top_k: TopK = None, filter: Where = None
    ) -> CallToolResult:
        """The answer to a question (ASK)."""
        answer = _call(lambda: tools.ask(self.engine(), question, history, top_k, filter))
        return _result(answer, tools.answer_text(answer))

    def get_document(
        self,
        doc_id: Annotated[str, Field(description="The article's id, as a citation or passage gives it.")],
        start: Annotated[int | None, Field(description="First character (default 0).")] = None,
        end: Annotated[int | None, Field(description="Character after the last (default: the end).")] = None,
    ) -> CallToolResult:
        """An article's text or a slice of it (GET_DOCUMENT)."""
        found = _call(lambda: tools.get_document(self.engine(), doc_id, start, end))
        return _result(found, tools.slice_text(found))

    def article(self, doc_id: str) -> str:
        """An article's full text; citation offsets index into it."""
        try:
            return self.engine().document(doc_id).text
        except QAError as exc:
            raise ResourceError(str(exc)) from None

    async def list_resources(self) -> list[Resource]:
        """The resources registered, then every article (when the engine is ready)."""
        listed = await super().list_resources()
        try:
            docs = await anyio.to_thread.run_sync(lambda: self.engine().documents())
        except QAError:
            return listed
        return listed + [
            Resource(uri=f"{SCHEME}/{d.id}", name=d.id, title=d.title, mime_type="text/plain", size=len(d.text))
            for d in docs
        ]


def _call(work: Callable[[], T]) -> T:
    """Run a service call, turning a library error into a tool error the client sees (its kind and message)."""
    try:
        return work()
    except QAError as exc:
        raise ToolError(f"{exc.kind}: {exc}") from None


def _result(value: msgspec.Struct, text: str) -> CallToolResult:
    """A tool result: the text for the model, the same result as structured content for the app."""
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=tools.structured(value))


def endpoint(server: Articles) -> tuple[ASGIRouteHandler, Callable[[Litestar], AbstractAsyncContextManager[None]]]:
    """The ``/mcp`` route (Streamable HTTP, stateless, JSON responses) and the lifespan that runs its sessions.

    The app's guard and middleware stand in front of it: API keys, rate limits, metrics, request ids and logs.
    """

    @asgi(PATH, is_mount=True, copy_scope=True)
    async def mcp(scope: Scope, receive: Receive, send: Send) -> None:
        """Model Context Protocol over Streamable HTTP (POST JSON-RPC messages; see README "Use from a chat app")."""
        await server.session_manager.handle_request(scope, receive, send)  # type: ignore[arg-type]

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        """Run a session manager while the app runs (a new one each time: a manager runs once)."""
        server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        async with server.session_manager.run():
            yield

    return mcp, lifespan
