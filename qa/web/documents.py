"""The documents routes: list and read articles; add, replace and delete them, singly or as one JSON Lines batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import MediaType, Response, delete, get, post, put, route
from litestar.dto import MsgspecDTO
from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler

from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.service.submissions import EXAMPLE, DocumentIn, WriteOut, parse_lines
from qa.service.wire import DocumentOut, DocumentSummary, document_out, document_summary
from qa.web.access import WRITE
from qa.web.decoding import decode
from qa.web.openapi import ModelSchema, problem_responses

WRITE_ERRORS = (400, 401, 403, 408, 409, 413, 415, 429, 500, 503)


class DocumentBody(ModelSchema, MsgspecDTO[DocumentIn]):
    """Decodes an article strictly, so a wrong field or type is a 400 problem naming it."""

    def decode_bytes(self, value: bytes) -> Any:
        """The request body as a DocumentIn, or InvalidInput saying what to fix."""
        return decode(value, DocumentIn, EXAMPLE)


def handlers(settings: Settings) -> list[HTTPRouteHandler]:
    """The documents routes; write bodies may be up to ``max_write_bytes``."""
    limit = settings.http.max_write_bytes

    @get("/documents", sync_to_thread=False, responses=problem_responses(500, 503))
    def documents(engine: Engine) -> list[DocumentSummary]:
        """List every article: its metadata, when it was added and changed, and the article it copies if any."""
        return [document_summary(doc) for doc in engine.documents()]

    @get("/documents/{doc_id:str}", sync_to_thread=False, responses=problem_responses(400, 404, 500, 503))
    def document(doc_id: str, engine: Engine) -> DocumentOut:
        """One article with its full text; passage and citation offsets index into it."""
        return document_out(engine.document(doc_id))

    @post(
        "/documents",
        request_max_body_size=limit,
        status_code=201,
        dto=DocumentBody,
        return_dto=None,
        sync_to_thread=True,
        opt=WRITE,
        responses=problem_responses(*WRITE_ERRORS),
    )
    def add_document(data: DocumentIn, engine: Engine) -> WriteOut:
        """Add one article; answered once it is on disk. Sending the same article again is ``unchanged``.

        Without ``id`` the id is derived from the text; an id that holds other text is a 409 (PUT replaces).
        """
        return engine.add(data)

    @put(
        "/documents/{doc_id:str}",
        request_max_body_size=limit,
        status_code=200,
        dto=DocumentBody,
        return_dto=None,
        sync_to_thread=True,
        opt=WRITE,
        responses=problem_responses(*WRITE_ERRORS),
    )
    def replace_document(doc_id: str, data: DocumentIn, engine: Engine) -> WriteOut:
        """Put an article under an id, replacing every passage of what it held (``added`` when the id was free)."""
        return engine.replace(doc_id, data)

    @delete(
        "/documents/{doc_id:str}",
        status_code=204,
        sync_to_thread=True,
        opt=WRITE,
        responses=problem_responses(400, 401, 403, 404, 429, 500, 503),
    )
    def delete_document(doc_id: str, engine: Engine) -> None:
        """Delete an article: it leaves the listing, every answer and the keyword statistics."""
        engine.remove(doc_id)

    @post(
        "/documents:batch",
        request_max_body_size=limit,
        status_code=200,
        sync_to_thread=True,
        opt={**WRITE, "lines": True},
        responses=problem_responses(*WRITE_ERRORS),
    )
    def add_batch(body: bytes, engine: Engine) -> list[WriteOut]:
        """Add or replace many articles sent as JSON Lines (one article per line), all of them or none."""
        return engine.batch(parse_lines(body))

    allowed = {"/documents": "GET, OPTIONS, POST", "/documents/{doc_id:str}": "DELETE, GET, OPTIONS, PUT"}
    return [*_options(allowed), documents, document, add_document, replace_document, delete_document, add_batch]


def _options(allowed: dict[str, str]) -> list[HTTPRouteHandler]:
    """Explicit OPTIONS answers for paths with several handlers, registered before them.

    Litestar 2 builds its automatic OPTIONS answer with the first handler of a path and never updates it
    (litestar#4169, fixed only in v3), so ``Allow`` would list one method.
    """
    out = []
    for path, methods in allowed.items():
        answer = _allow(methods)
        out.append(
            route(
                path,
                http_method=[HttpMethod.OPTIONS],
                include_in_schema=False,
                sync_to_thread=False,
                name=f"options {path}",
            )(answer)
        )
    return out


def _allow(methods: str) -> Callable[[], Response[None]]:
    """A handler answering 204 with ``Allow: methods`` (no parameters a client could set)."""

    def answer() -> Response[None]:
        return Response(None, status_code=204, headers={"Allow": methods}, media_type=MediaType.TEXT)

    return answer
