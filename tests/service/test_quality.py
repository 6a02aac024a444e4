"""Quality gate: the real model over the seeds must answer the development questions well."""

from __future__ import annotations

import pytest
from conftest import DATA

from qa.evaluation.questions import Report, evaluate, load_questions
from qa.service.engine import Engine

# The defaults reach hit@1 0.919, hit@5 1.000, MRR@10 0.947, 3/3 multi-source covered, 1/3 unanswerable abstained,
# 1/37 answerable abstained, confidence ROC AUC 0.811, an answer match of 0.540, the gold evidence quoted first for
# 0.703 and answer spans of token F1 0.390 (see bench/README.md). The gate sits about one question (1/37 = 0.027)
# below each, so a change that loses one answer passes and one that loses two fails; abstention keeps what the
# learned decision reaches (one of three), since one below would be none.
MIN_HIT_AT_1 = 0.89
MIN_HIT_AT_5 = 0.97
MIN_MRR_AT_10 = 0.92
MIN_ABSTAINED_UNANSWERABLE = 1
MAX_ABSTAINED_ANSWERABLE = 2
MIN_CONFIDENCE_AUC = 0.78
MIN_MULTI_COVERAGE = 2 / 3
MIN_ANSWER_MATCH = 0.51
MIN_ANSWER_SENTENCE = 0.67
MIN_SPAN_F1 = 0.36


@pytest.fixture(scope="module")
def report(engine: Engine) -> Report:
    """The dev set run once through the engine with the default settings."""
    return evaluate(load_questions(DATA / "dev_qa.jsonl"), lambda q: engine.ask(q, top_k=10))


def test_retrieval_quality(report: Report) -> None:
    assert report.answerable == 37
    assert report.hit_at_1 >= MIN_HIT_AT_1, report.misses
    assert report.hit_at_5 >= MIN_HIT_AT_5, report.misses
    assert report.mrr_at_10 >= MIN_MRR_AT_10, report.misses
    assert report.multi_coverage >= MIN_MULTI_COVERAGE


def test_extractive_answers_hold_the_gold_answer(report: Report) -> None:
    assert report.answer_match >= MIN_ANSWER_MATCH
    assert report.answer_sentence >= MIN_ANSWER_SENTENCE
    assert report.span_f1 >= MIN_SPAN_F1


def test_abstention(report: Report) -> None:
    assert report.unanswerable == 3
    assert round(report.abstention_accuracy * report.unanswerable) >= MIN_ABSTAINED_UNANSWERABLE
    assert report.answerable_abstained <= MAX_ABSTAINED_ANSWERABLE
    assert report.confidence_auc is not None and report.confidence_auc >= MIN_CONFIDENCE_AUC


def test_answer_cites_the_passages_it_quotes(engine: Engine) -> None:
    result = engine.ask("Where did the BYC stage its big rally in early 2025?")
    assert result.answerable
    assert "Dalbandin" in result.answer
    ranks = {h.rank: h for h in result.hits}
    for citation in result.citations:
        assert f"[{citation.n}]" in result.answer
        hit = ranks[citation.n]
        assert citation.doc_id == hit.passage.doc_id
        assert hit.passage.start <= citation.start < citation.end <= hit.passage.end
        assert engine.document(citation.doc_id).text[citation.start : citation.end] == citation.quote
