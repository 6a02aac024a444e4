"""The wire shapes: one answer-and-citations shape shared by HTTP, the CLI's --json and the widget."""

from __future__ import annotations

import msgspec

from qa.records import Answer, Citation, Document


class AskRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Body of ``POST /ask``."""

    question: str
    top_k: int | None = None


class PassageOut(msgspec.Struct, kw_only=True):
    """A retrieved passage: ``document.text[start:end] == text`` exactly."""

    rank: int
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    score: float


class AskResponse(msgspec.Struct, kw_only=True):
    """Answer to a question, with its citations and the passages it was drawn from."""

    question: str
    answerable: bool
    answer: str
    confidence: float
    reason: str | None
    citations: list[Citation]
    passages: list[PassageOut]
    timings_ms: dict[str, float]


class DocumentSummary(msgspec.Struct, kw_only=True):
    """One article in the listing."""

    id: str
    title: str
    author: str | None
    date: str | None
    length: int


class DocumentOut(DocumentSummary, kw_only=True):
    """One article with its full text; passage and citation offsets index into ``text``."""

    text: str


def ask_response(answer: Answer) -> AskResponse:
    """The wire shape of an Answer."""
    return AskResponse(
        question=answer.question,
        answerable=answer.answerable,
        answer=answer.answer,
        confidence=answer.confidence,
        reason=answer.reason,
        citations=list(answer.citations),
        passages=[
            PassageOut(
                rank=h.rank,
                doc_id=h.passage.doc_id,
                title=h.title,
                text=h.passage.text,
                start=h.passage.start,
                end=h.passage.end,
                score=round(h.scores.fused, 6),
            )
            for h in answer.hits
        ],
        timings_ms=answer.timings_ms,
    )


def document_summary(doc: Document) -> DocumentSummary:
    """The listing entry of a document."""
    return DocumentSummary(id=doc.id, title=doc.title, author=doc.author, date=doc.date, length=doc.length)


def document_out(doc: Document) -> DocumentOut:
    """A document with its full text."""
    return DocumentOut(id=doc.id, title=doc.title, author=doc.author, date=doc.date, length=doc.length, text=doc.text)
