"""The chat-app tools without a protocol: results that slice their articles, and clear errors for bad arguments."""

from __future__ import annotations

import pytest

from qa.base.errors import InvalidInput, NotFound
from qa.service import tools
from qa.service.engine import Engine

QUESTION = "Where did the BYC stage its big rally in early 2025?"


def test_search_passages_slice_their_documents_and_honour_the_filter(engine: Engine) -> None:
    found = tools.search(engine, f"  {QUESTION} ", top_k=3)
    assert found.question == QUESTION and [p.rank for p in found.passages] == [1, 2, 3]
    for p in found.passages:
        assert engine.document(p.doc_id).text[p.start : p.end] == p.text
    only = found.passages[-1].doc_id
    narrowed = tools.search(engine, QUESTION, top_k=3, where={"doc_ids": [only]})
    assert narrowed.passages and {p.doc_id for p in narrowed.passages} == {only}
    assert f"({found.passages[0].doc_id}, characters" in tools.search_text(found)


def test_ask_matches_the_engine_and_renders_every_citation(engine: Engine) -> None:
    answer = tools.ask(engine, QUESTION, history=[{"role": "user", "content": "Tell me about the BYC."}])
    assert answer.answerable and answer.citations
    text = tools.answer_text(answer)
    for c in answer.citations:
        assert engine.document(c.doc_id).text[c.start : c.end] == c.quote
        assert f'[{c.n}] {c.title} ({c.doc_id}, characters {c.start}-{c.end}): "{c.quote}"' in text
    assert tools.structured(answer)["citations"][0]["quote"] == answer.citations[0].quote


def test_get_document_slices_and_refuses_bad_ranges(engine: Engine) -> None:
    doc = engine.documents()[0]
    whole = tools.get_document(engine, doc.id)
    assert (whole.start, whole.end, whole.length, whole.text) == (0, len(doc.text), len(doc.text), doc.text)
    part = tools.get_document(engine, doc.id, 5, 40)
    assert part.text == doc.text[5:40] and tools.slice_text(part).endswith(doc.text[5:40])
    assert tools.get_document(engine, doc.id, start=len(doc.text)).text == ""
    for start, end in [(10, 5), (-1, 3), (0, len(doc.text) + 1)]:
        with pytest.raises(InvalidInput, match="start <= end"):
            tools.get_document(engine, doc.id, start, end)
    with pytest.raises(NotFound, match="no-such-doc"):
        tools.get_document(engine, "no-such-doc")


@pytest.mark.parametrize(
    ("where", "history", "message"),
    [
        ({"colour": "red"}, None, "filter"),
        ({"after": "2025-13-01"}, None, "filter.after"),
        (None, [{"role": "system", "content": "x"}], r"history\[0\]"),
        (None, [{"role": "user"}], r"history\[0\]"),
    ],
)
def test_bad_arguments_are_invalid_input(
    engine: Engine, where: dict[str, object] | None, history: list[dict[str, object]] | None, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        tools.ask(engine, QUESTION, history=history, where=where)


@pytest.mark.parametrize(("question", "top_k", "message"), [("  ", None, "question is empty"), (QUESTION, 0, "top_k")])
def test_search_checks_the_question_and_top_k(engine: Engine, question: str, top_k: int | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        tools.search(engine, question, top_k)
