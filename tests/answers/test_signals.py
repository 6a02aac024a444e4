"""Signals of an answer over the real seed index: question focus, candidate features, question features."""

from __future__ import annotations

import math

import pytest

from qa.answers.question import PERSON
from qa.answers.signals import QUESTION, SENTENCE, Focus, candidates, question_features
from qa.service.engine import Engine

LONG_MARCH = "Who led the long march to Islamabad?"
OFF_TOPIC = "What is the boiling point of liquid nitrogen in a vacuum chamber?"


def features(engine: Engine, question: str) -> tuple[Focus, list[dict[str, float]], dict[str, float]]:
    """The focus, the candidates' named features and the question's named features, as the engine computes them."""
    vector = engine.encoder.encode([question])[0]
    hits = engine.retrieve(question, vector, 5)
    focus = Focus.of(question, engine.index)
    found = candidates(focus, vector, hits, engine.index)
    named = [dict(zip(SENTENCE, c.features, strict=True)) for c in found]
    return focus, named, dict(zip(QUESTION, question_features(focus, found, hits), strict=True))


def test_focus_weighs_rare_terms_above_common_ones(engine: Engine) -> None:
    focus = Focus.of("Who led the Balochistan long march to Islamabad?", engine.index)
    assert focus.kind == PERSON
    weight = dict(zip(focus.focus, focus.weight, strict=True))
    assert all(0.0 < w <= 1.0 for w in weight.values())
    assert weight["balochistan"] < weight["march"], "the corpus is about Balochistan; a march is rarer"
    assert focus.cover(set(focus.focus)) == 1.0 and focus.missing(set(focus.focus)) == 0.0
    assert focus.missing(set()) == max(focus.weight)


def test_candidate_features_are_finite_and_bounded(engine: Engine) -> None:
    _, named, question = features(engine, LONG_MARCH)
    assert named
    for row in named:
        assert all(math.isfinite(v) for v in row.values())
        assert 0.0 <= row["cover"] <= row["cover_window"] + 1e-9 <= 1.0 + 1e-9
        assert row["sim_gap"] <= 0.0 and row["cover_gap"] <= 0.0
        assert row["typed_hit"] + row["typed_miss"] == 1.0, "a who-question: every sentence names someone or not"
    assert max(r["sim_gap"] for r in named) == 0.0
    assert all(math.isfinite(v) for v in question.values())


def test_an_off_topic_question_misses_its_focus(engine: Engine) -> None:
    _, _, on = features(engine, LONG_MARCH)
    _, _, off = features(engine, OFF_TOPIC)
    assert on["missing_share"] < 0.3 < off["missing_share"]
    assert off["top_dense"] < on["top_dense"]


@pytest.mark.parametrize("question", [LONG_MARCH, OFF_TOPIC])
def test_confidence_orders_on_topic_above_off_topic(engine: Engine, question: str) -> None:
    result = engine.ask(question)
    assert 0.0 <= result.confidence <= 1.0
    assert result.answerable == (question == LONG_MARCH)
