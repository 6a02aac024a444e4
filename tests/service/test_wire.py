"""The JSON shapes: each wire type is filled from the record by field name, once, the same for every format."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest

from qa.base.records import Answer, Citation, Document, Draft, Hit, Passage, PassagesEvent, Scores, Span
from qa.service.streams import CitationsData, Extension, PassagesData, Source, citations_data, extension, passages_data
from qa.service.wire import AskRequest, AskResponse, DocumentOut, Explain, ScoresOut, ask_response, document_out, shape

TEXT = "The march reached Quetta. Thousands joined it on the road."
CITATION = Citation(
    n=1,
    doc_id="march",
    title="Long march",
    start=0,
    end=25,
    quote=TEXT[:25],
    supported=True,
    answer_span=Span(start=18, end=24),  # "Quetta"
)
HIT = Hit(
    rank=1,
    passage=Passage(doc_id="march", start=0, end=len(TEXT), text=TEXT),
    title="Long march",
    scores=Scores(dense=0.81234567, keyword=None, fused=0.52345678, sentence=0.4),
)
ANSWER = Answer(
    question="Where did the march go?",
    answerable=True,
    answer="It reached Quetta [1].",
    confidence=0.75,
    reason=None,
    citations=(CITATION,),
    hits=(HIT,),
    timings_ms={"retrieve": 1.5, "total": 3.0},
    model="extractive",
    grounded=True,
    invalid_citations=(7,),
    flagged_passages=(),
    dropped_passages=(2,),
)
EXPLAIN = Explain(
    fusion="convex",
    dense_weight=0.5,
    keyword_weight=0.5,
    sentence_weight=0.2,
    rrf_k=60,
    candidates=50,
    bm25_k1=1.2,
    bm25_b=0.75,
    reranker=None,
    rerank_depth=20,
    chunk_tokens=200,
    chunk_overlap=40,
    embed_title=True,
    model="all-MiniLM-L6-v2",
    embed_backend="torch",
    index_generation="g1",
    abstain_threshold=0.3,
)
CITATION_JSON = {
    "n": 1,
    "doc_id": "march",
    "title": "Long march",
    "start": 0,
    "end": 25,
    "quote": TEXT[:25],
    "supported": True,
    "copies": [],
    "answer_span": {"start": 18, "end": 24},
}
PASSAGE_JSON = {
    "rank": 1,
    "doc_id": "march",
    "title": "Long march",
    "text": TEXT,
    "start": 0,
    "end": len(TEXT),
    "score": 0.523457,
}
SCORES_JSON = {"dense": 0.812346, "keyword": None, "sentence": 0.4, "fused": 0.523457, "rerank": None}


def as_json(value: Any) -> Any:
    """What the value is on the wire."""
    return msgspec.json.decode(msgspec.json.encode(value))


def test_shape_takes_each_field_by_name_and_given_ones_as_given() -> None:
    assert shape(HIT.scores, ScoresOut, fused=1.0) == ScoresOut(
        dense=0.81234567, keyword=None, sentence=0.4, fused=1.0, rerank=None
    )
    assert shape(HIT.passage, Source, n=3, title="T") == Source(n=3, doc_id="march", title="T", start=0, end=len(TEXT))


def test_shape_leaves_unset_fields_out_and_fails_on_a_missing_one() -> None:
    assert "explain" not in as_json(shape(ANSWER, PassagesData, passages=[], explain=msgspec.UNSET))
    with pytest.raises(msgspec.ValidationError, match="missing required field `passages`"):
        shape(ANSWER, PassagesData)


def test_ask_response_is_the_answer_field_for_field() -> None:
    body = as_json(ask_response(ANSWER))
    assert body == {
        "question": "Where did the march go?",
        "answerable": True,
        "answer": "It reached Quetta [1].",
        "confidence": 0.75,
        "reason": None,
        "model": "extractive",
        "grounded": True,
        "citations": [CITATION_JSON],
        "invalid_citations": [7],
        "flagged_passages": [],
        "dropped_passages": [2],
        "passages": [PASSAGE_JSON],
        "timings_ms": {"retrieve": 1.5, "total": 3.0},
    }
    assert list(body) == list(AskResponse.__struct_fields__)[:-1]  # the wire order is the type's; no explain


def test_explain_adds_every_score_and_the_settings() -> None:
    body = as_json(ask_response(ANSWER, explain=EXPLAIN))
    assert body["passages"] == [{**PASSAGE_JSON, "scores": SCORES_JSON}]
    assert body["explain"] == as_json(EXPLAIN)


def first_event(answer: Answer) -> PassagesEvent:
    """The ``passages`` event a stream of this answer starts with."""
    draft = Draft(
        question=answer.question,
        hits=answer.hits,
        answerable=answer.answerable,
        confidence=answer.confidence,
        reason=answer.reason,
        extract=answer.answer,
        citations=answer.citations,
        embed_ms=1.0,
        search_ms=1.0,
        answer_ms=1.0,
    )
    return PassagesEvent(
        draft=draft,
        model=answer.model,
        flagged_passages=answer.flagged_passages,
        dropped_passages=answer.dropped_passages,
    )


def test_a_stream_carries_the_same_answer_as_the_json_body() -> None:
    assert set(PassagesData.__struct_fields__) | set(CitationsData.__struct_fields__) == set(
        AskResponse.__struct_fields__
    )
    for explain in (None, EXPLAIN):
        streamed = {**as_json(passages_data(first_event(ANSWER), explain=explain)), **as_json(citations_data(ANSWER))}
        assert streamed == as_json(ask_response(ANSWER, explain=explain))


def test_the_chat_extension_names_each_source_by_its_marker() -> None:
    assert as_json(extension(ANSWER)) == {
        "answerable": True,
        "grounded": True,
        "confidence": 0.75,
        "reason": None,
        "citations": [CITATION_JSON],
        "invalid_citations": [7],
        "passages": [{"n": 1, "doc_id": "march", "title": "Long march", "start": 0, "end": len(TEXT)}],
    }
    assert isinstance(extension(ANSWER), Extension)


def test_document_out_carries_the_length_and_the_text() -> None:
    doc = Document(id="march", title="Long march", text=TEXT, author="A. Writer")
    assert as_json(document_out(doc)) == {
        "id": "march",
        "title": "Long march",
        "author": "A. Writer",
        "date": None,
        "length": len(TEXT),
        "source": None,
        "url": None,
        "added_at": None,
        "updated_at": None,
        "duplicate_of": None,
        "text": TEXT,
    }
    assert isinstance(document_out(doc), DocumentOut)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"question": ""}', "Expected `str` of length >= 1 - at `$.question`"),
        (b'{"question": "q", "top_k": 0}', "Expected `int` >= 1 - at `$.top_k`"),
        (b'{"question": "q", "colour": "red"}', "unknown field `colour`"),
    ],
)
def test_ask_request_refuses_what_its_schema_refuses(body: bytes, error: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=re.escape(error)):
        msgspec.json.decode(body, type=AskRequest)
    assert msgspec.json.decode(b'{"question": "q", "top_k": 51}', type=AskRequest).top_k == 51  # the max: at run time
