"""Frozen value types shared by every part: documents, passages, hits, citations, drafts, answers, events, turns."""

from __future__ import annotations

from typing import Literal

import msgspec


class Document(msgspec.Struct, frozen=True, kw_only=True):
    """One article: its id, metadata and full text, and where and when it entered the archive.

    ``source`` is the outlet that published it and ``url`` its address there; ``origin`` is the file it was read
    from (None when it came over the API); ``sha256`` hashes its content, so re-adding it changes nothing;
    ``duplicate_of`` names the indexed article it is a copy of (its passages are not indexed twice).
    """

    id: str
    title: str
    text: str
    author: str | None = None
    date: str | None = None
    source: str | None = None
    url: str | None = None
    origin: str | None = None
    sha256: str = ""
    added_at: str | None = None
    updated_at: str | None = None
    duplicate_of: str | None = None

    @property
    def length(self) -> int:
        """Length of the text in characters."""
        return len(self.text)


class Passage(msgspec.Struct, frozen=True, kw_only=True):
    """A chunk of a document: ``document.text[start:end] == text`` always holds."""

    doc_id: str
    start: int
    end: int
    text: str


class Scores(msgspec.Struct, frozen=True, kw_only=True):
    """How a passage was scored: dense cosine, keyword BM25, the fused score, and the reranker's score if any.

    ``rerank`` is None when no reranker ran (there is none yet); ``dense`` or ``keyword`` is None when that
    retriever did not score the passage.
    """

    dense: float | None
    keyword: float | None
    fused: float
    rerank: float | None = None
    sentence: float | None = None


class Hit(msgspec.Struct, frozen=True, kw_only=True):
    """A retrieved passage with its rank (1-based) and scores."""

    rank: int
    passage: Passage
    title: str
    scores: Scores


class Span(msgspec.Struct, frozen=True, kw_only=True):
    """A range of a document's text, ``text[start:end]``, in character offsets."""

    start: int
    end: int


class Citation(msgspec.Struct, frozen=True, kw_only=True):
    """A marker ``[n]`` in an answer (passage n) and the exact slice of a document it points to.

    ``supported`` says whether that slice was found to state the claim the marker follows; extractive answers
    quote the slice itself, so theirs always are. ``answer_span``, when one was found, is the short answer to the
    question inside the quote (a name, date, figure, place), in the same document's offsets and always within
    ``start..end``.
    """

    n: int
    doc_id: str
    title: str
    start: int
    end: int
    quote: str
    supported: bool = True
    copies: tuple[Copy, ...] = ()
    answer_span: Span | None = None


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """The result of asking a question: answer text, citations and the retrieved passages.

    ``model`` wrote the answer; ``grounded`` is true only when it has a citation and every cited claim is
    supported. ``invalid_citations`` lists markers that pointed at no passage (removed from the text),
    ``flagged_passages`` the passages fenced because they read like instructions to a model, and
    ``dropped_passages`` the ranks left out of the model's context for lack of room (none for the extractive
    model). ``timings_ms`` holds the milliseconds each step took (embed, search, answer, generate) and their total.
    """

    question: str
    answerable: bool
    answer: str
    confidence: float
    reason: str | None
    citations: tuple[Citation, ...]
    hits: tuple[Hit, ...]
    timings_ms: dict[str, float]
    model: str = "extractive"
    grounded: bool = False
    invalid_citations: tuple[int, ...] = ()
    flagged_passages: tuple[int, ...] = ()
    dropped_passages: tuple[int, ...] = ()


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """What retrieval and the extractive step hand to generation: the passages and the extractive answer over them.

    ``extract`` is that answer with its ``citations``; when not ``answerable`` it is the fixed no-answer reply,
    without citations, and ``reason`` says why. ``embed_ms``, ``search_ms`` and ``answer_ms`` are the times the
    three steps took, in milliseconds.
    """

    question: str
    hits: tuple[Hit, ...]
    answerable: bool
    confidence: float
    reason: str | None
    extract: str
    citations: tuple[Citation, ...]
    embed_ms: float
    search_ms: float
    answer_ms: float


class PassagesEvent(msgspec.Struct, frozen=True, kw_only=True):
    """First event: the draft's passages, the model they are given to and how (flagged and dropped ranks)."""

    draft: Draft
    model: str
    flagged_passages: tuple[int, ...]
    dropped_passages: tuple[int, ...]


class TokenEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A piece of the answer text as the model writes it."""

    text: str


class FinalEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Last event: the finished answer, invalid markers removed and every citation checked."""

    answer: Answer


Event = PassagesEvent | TokenEvent | FinalEvent


class Filter(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which documents a question may draw on: ids, author and outlet (case-insensitive, contained), date bounds.

    ``after`` and ``before`` are ``YYYY-MM-DD`` and inclusive; a document without a date fails any date bound.
    """

    doc_ids: list[str] | None = None
    author: str | None = None
    source: str | None = None
    after: str | None = None
    before: str | None = None

    def admits(self, doc: Document) -> bool:
        """True when the document passes every condition given."""
        if self.doc_ids is not None and doc.id not in self.doc_ids:
            return False
        if self.author is not None and self.author.casefold().strip() not in (doc.author or "").casefold():
            return False
        if self.source is not None and self.source.casefold().strip() not in (doc.source or "").casefold():
            return False
        if self.after is not None and (doc.date is None or doc.date[:10] < self.after):
            return False
        return not (self.before is not None and (doc.date is None or doc.date[:10] > self.before))


class Copy(msgspec.Struct, frozen=True, kw_only=True):
    """Another outlet's copy of a cited article that carries the quoted text: ``text[start:end]`` of that document."""

    doc_id: str
    title: str
    source: str | None
    url: str | None
    start: int
    end: int


Role = Literal["user", "assistant"]
ROLES: tuple[Role, ...] = ("user", "assistant")


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """One earlier message of a conversation: the user's question or the assistant's answer, as its text."""

    role: Role
    text: str
