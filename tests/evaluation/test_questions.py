"""Evaluation metrics on hand-made rankings."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from qa.base.errors import InvalidInput
from qa.base.records import Answer, Citation, Hit, Passage, Scores, Span
from qa.evaluation.questions import Question, contains_evidence, evaluate, load_questions, roc_auc


def _hit(rank: int, doc: str, text: str) -> Hit:
    return Hit(
        rank=rank,
        passage=Passage(doc_id=doc, start=0, end=len(text), text=text),
        title=doc,
        scores=Scores(dense=0.0, keyword=0.0, fused=0.0),
    )


def _answer(question: str, hits: list[Hit], answerable: bool = True) -> Answer:
    return Answer(
        question=question,
        answerable=answerable,
        answer="",
        confidence=0.5,
        reason=None,
        citations=(),
        hits=tuple(hits),
        timings_ms={},
    )


def test_evidence_match_allows_a_cut_but_not_a_stray_word() -> None:
    evidence = "security forces have opened fire on protestors who refused to disperse"
    assert contains_evidence("In Quetta, security forces have opened fire on protestors who refused", evidence)
    assert not contains_evidence("security forces were there. Protestors refused to go.", evidence)
    assert not contains_evidence("anything", "")


def test_metrics_on_a_tiny_ranking() -> None:
    qs = [
        Question(id="a", question="qa", doc="d1", evidence=["alpha beta gamma"]),
        Question(id="b", question="qb", doc="d2", evidence=["delta epsilon"]),
        Question(id="c", question="qc", doc="d3", evidence=["zeta eta"]),
        Question(id="m", question="qm", type="multi", docs=["d1", "d2"], evidence=["alpha beta", "delta epsilon"]),
        Question(id="u", question="qu", type="unanswerable"),
    ]
    runs = {
        "qa": [_hit(1, "d1", "alpha beta gamma")],
        "qb": [_hit(1, "d1", "x"), _hit(2, "d9", "delta epsilon"), _hit(3, "d2", "delta epsilon")],
        "qc": [_hit(i, "d1", "nothing") for i in range(1, 11)],
        "qm": [_hit(1, "d2", "delta epsilon"), _hit(2, "d1", "alpha beta")],
        "qu": [_hit(1, "d1", "x")],
    }
    report = evaluate(qs, lambda q: _answer(q, runs[q], answerable=q != "qu"))
    assert report.answerable == 4
    assert report.hit_at_1 == 0.5  # a and m
    assert report.hit_at_5 == 0.75  # b at rank 3 (d9 is the wrong document)
    assert report.mrr_at_10 == round((1 + 1 / 3 + 0 + 1) / 4, 4)
    assert report.multi_coverage == 1.0
    assert report.abstention_accuracy == 1.0
    assert report.answerable_abstained == 0


def test_load_questions_reports_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "1", "question": "ok?"}\n{"id": 2}\n')
    with pytest.raises(InvalidInput, match=r"q.jsonl:2"):
        load_questions(path)


def test_roc_auc_counts_pairs_and_ties() -> None:
    assert roc_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert roc_auc([0.1], [0.9]) == 0.0
    assert roc_auc([0.5, 0.7], [0.5]) == 0.75  # one win, one tie
    assert roc_auc([], [0.3]) is None


def test_decision_sentence_and_span_figures() -> None:
    text = "The march ended in Quetta after ten days."
    start = text.index("Quetta")
    cite = Citation(
        n=1, doc_id="d1", title="d1", start=0, end=len(text), quote=text, answer_span=Span(start=start, end=start + 6)
    )
    qs = [
        Question(id="a", question="qa", doc="d1", answers=["Quetta"], evidence=["The march ended in Quetta"]),
        Question(id="b", question="qb", doc="d1", answers=["Turbat"], evidence=["began in Turbat"]),
        Question(id="u", question="qu", type="unanswerable"),
        Question(id="v", question="qv", type="unanswerable"),
    ]
    answers = {
        "qa": msgspec.structs.replace(_answer("qa", [], True), answer=text, citations=(cite,), confidence=0.9),
        "qb": msgspec.structs.replace(_answer("qb", [], False), confidence=0.2),
        "qu": msgspec.structs.replace(_answer("qu", [], False), confidence=0.1),
        "qv": msgspec.structs.replace(_answer("qv", [], True), confidence=0.3),
    }
    report = evaluate(qs, lambda q: answers[q])
    assert (report.answerable_abstained, report.answered_unanswerable) == (1, 1)
    assert report.abstention_precision == 0.5 and report.abstention_recall == 0.5
    assert report.confidence_auc == 0.75
    assert report.answer_sentence == 0.5 and report.answer_match == 0.5
    assert report.span_exact == 0.5 and report.span_f1 == 0.5
