"""The tools a chat app calls (search, ask, get_document): protocol-neutral, each a wire result and its text.

The results use the field names of ``POST /ask`` (``doc_id``, ``title``, ``start``, ``end``, ``quote``, ...); the
texts render them for a model or a person to read, every citation with its document id and character range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec
from typing_extensions import TypedDict  # pydantic (the MCP SDK) reads these schemas; it needs this one on 3.11

from qa.base.errors import InvalidInput
from qa.base.records import Filter, Turn
from qa.service.engine import Engine
from qa.service.wire import AskResponse, PassageOut, ask_response, passages_out

QUOTE_CHARS = 300  # a passage's text in the search rendering is cut to this many characters


class FilterArgs(TypedDict, total=False):
    """Which articles a question may draw on, as ``POST /ask``'s ``filter``: every field optional, all must hold."""

    doc_ids: list[str]
    author: str
    source: str
    after: str
    before: str


class MessageArgs(TypedDict):
    """One earlier turn of the conversation, as in ``POST /ask``'s ``history``."""

    role: Literal["user", "assistant"]
    content: str


class SearchOut(msgspec.Struct, kw_only=True):
    """The passages found for a question, best first: ``document.text[start:end] == text`` for each."""

    question: str
    passages: list[PassageOut]


class DocumentSlice(msgspec.Struct, kw_only=True):
    """A slice of an article: ``text`` is its full text's ``[start:end]``; ``length`` is the whole text's length."""

    doc_id: str
    title: str
    author: str | None
    date: str | None
    source: str | None
    url: str | None
    start: int
    end: int
    length: int
    text: str


def filter_of(given: Mapping[str, Any] | None) -> Filter | None:
    """The engine's filter from tool arguments, or InvalidInput naming what is wrong."""
    if given is None:
        return None
    try:
        return msgspec.convert(dict(given), Filter)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"filter: {exc}") from None


def turns_of(history: Sequence[Mapping[str, Any]] | None) -> list[Turn]:
    """The engine's history from tool arguments, or InvalidInput naming the bad entry."""
    turns = []
    for i, message in enumerate(history or ()):
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant") or not isinstance(content, str):
            raise InvalidInput(f'history[{i}] must be {{"role": "user" | "assistant", "content": text}}')
        turns.append(Turn(role=role, text=content))
    return turns


def search(
    engine: Engine, question: str, top_k: int | None = None, where: Mapping[str, Any] | None = None
) -> SearchOut:
    """The best passages for a question, with no answer drawn from them."""
    hits = engine.search(question, top_k, where=filter_of(where))
    return SearchOut(question=question.strip(), passages=passages_out(hits))


def ask(
    engine: Engine,
    question: str,
    history: Sequence[Mapping[str, Any]] | None = None,
    top_k: int | None = None,
    where: Mapping[str, Any] | None = None,
) -> AskResponse:
    """The answer to a question, as ``POST /ask`` gives it (the deployment's model; an abstention says so)."""
    return ask_response(engine.ask(question, top_k, history=turns_of(history), where=filter_of(where)))


def get_document(engine: Engine, doc_id: str, start: int | None = None, end: int | None = None) -> DocumentSlice:
    """An article's text, whole or ``[start:end]``; NotFound for an unknown id, InvalidInput for a bad range."""
    doc = engine.document(doc_id)
    length = len(doc.text)
    first = 0 if start is None else start
    last = length if end is None else end
    if not 0 <= first <= last <= length:
        raise InvalidInput(
            f"start and end must satisfy 0 <= start <= end <= {length} (the length of {doc_id!r}); "
            f"got start={start}, end={end}"
        )
    return DocumentSlice(
        doc_id=doc.id,
        title=doc.title,
        author=doc.author,
        date=doc.date,
        source=doc.source,
        url=doc.url,
        start=first,
        end=last,
        length=length,
        text=doc.text[first:last],
    )


def structured(result: msgspec.Struct) -> dict[str, Any]:
    """A result as plain JSON values (the structured content of a tool result)."""
    values: dict[str, Any] = msgspec.to_builtins(result)
    return values


def search_text(found: SearchOut) -> str:
    """The passages as text: rank, title, document id and range, score, then the text (cut when long)."""
    if not found.passages:
        return f"No passage found for: {found.question}"
    lines = [f"Passages for: {found.question}"]
    for p in found.passages:
        text = p.text if len(p.text) <= QUOTE_CHARS else p.text[:QUOTE_CHARS].rstrip() + " …"
        lines += ["", f"[{p.rank}] {p.title} ({p.doc_id}, characters {p.start}-{p.end}, score {p.score})", text]
    return "\n".join(lines)


def answer_text(answer: AskResponse) -> str:
    """The answer with its ``[n]`` markers, then each citation: title, document id, range and the quote."""
    lines = [answer.answer]
    if not answer.answerable:
        lines.append(f"(no answer: {answer.reason}; confidence {answer.confidence})")
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            lines.append(f'[{c.n}] {c.title} ({c.doc_id}, characters {c.start}-{c.end}): "{c.quote}"')
    elif answer.passages:
        lines += ["", "Closest passages:"]
        lines += [f"[{p.rank}] {p.title} ({p.doc_id}, characters {p.start}-{p.end})" for p in answer.passages]
    return "\n".join(lines)


def slice_text(found: DocumentSlice) -> str:
    """The slice with a heading naming the article and the range."""
    return f"{found.title} ({found.doc_id}, characters {found.start}-{found.end} of {found.length})\n\n{found.text}"
