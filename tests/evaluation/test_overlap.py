"""Span scores as the SQuAD script computes them: normalised exact match and token F1, best over the gold answers."""

from __future__ import annotations

import pytest

from qa.evaluation.overlap import exact_match, normalise, token_f1


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("The Channel Islands.", "channel islands"),
        ("  an  Arabian   Sea naval base ", "arabian sea naval base"),
        ("“new converts”", "new converts"),
        ("A, an, the: theatre", "theatre"),
        ("Pakistan-administered Kashmir", "pakistanadministered kashmir"),
    ],
)
def test_normalise_lowercases_and_drops_punctuation_and_articles(text: str, normal: str) -> None:
    assert normalise(text) == normal


def test_exact_match_is_against_any_gold_answer() -> None:
    assert exact_match("the Dutch Republic", ["Dutch Republic", "Netherlands"]) == 1.0
    assert exact_match("Netherlands.", ["Dutch Republic", "the Netherlands"]) == 1.0
    assert exact_match("Dutch", ["Dutch Republic"]) == 0.0
    assert exact_match(None, ["Dutch Republic"]) == 0.0
    assert exact_match("anything", []) == 0.0


def test_token_f1_is_the_best_overlap() -> None:
    # "300 men" against "300": precision 1/2, recall 1 -> 2/3
    assert token_f1("300 men", ["300"]) == pytest.approx(2 / 3)
    assert token_f1("300 men", ["300", "300 men"]) == 1.0
    assert token_f1("Kashmir", ["Quetta"]) == 0.0
    assert token_f1(None, ["Quetta"]) == 0.0
    assert token_f1("the", ["a"]) == 1.0, "both empty once normalised"
    assert token_f1("x b b", ["b b c"]) == pytest.approx(2 / 3), "repeated words count as often as they occur"
