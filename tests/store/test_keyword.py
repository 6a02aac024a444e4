"""BM25 keyword index: terms, ranking, unknown queries and save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.base.terms import terms
from qa.store.keyword import KeywordIndex, Postings

TEXTS = [
    "The otters returned to the harbour in spring after twenty years away.",
    "Protesters marched from Turbat to Quetta demanding answers about the killing.",
    "The old stone bridge reopened on Monday after two years of repairs.",
    "Pakistan's government said the protests in Quetta were organised from abroad.",
]


@pytest.fixture(scope="module")
def index() -> KeywordIndex:
    return KeywordIndex.build(TEXTS)


def test_terms_stem_and_drop_possessives_and_stopwords() -> None:
    got = terms("Pakistan's protesters were protesting")
    assert got[0] == "pakistan"
    assert got.count("protest") == 2, "protesters and protesting share a stem"
    assert "s" not in got and not any("'" in t or "’" in t for t in got)
    assert terms("Pakistan’s") == terms("pakistan's") == terms("PAKISTAN") == ["pakistan"]
    assert terms("the killing of the protesters in Quetta") == ["kill", "protest", "quetta"]
    assert terms("The and of to in is it") == []
    assert terms("") == []


def test_terms_handle_punctuation_numbers_and_underscores() -> None:
    assert terms("Turbat—a city; 800 kilometres (500 miles)!") == ["turbat", "citi", "800", "kilometr", "500", "mile"]
    assert terms("snake_case words") == ["snake", "case", "word"]
    assert terms("Women’s rights") == ["women", "right"]


def test_query_terms_rank_their_passage_first(index: KeywordIndex) -> None:
    assert index.size == len(TEXTS)
    for query, best in [
        ("Where did the otters return?", 0),
        ("march from Turbat", 1),
        ("When did the bridge reopen?", 2),
        ("Who organised the protest in Pakistan?", 3),
    ]:
        scores = index.scores(query)
        assert scores.shape == (len(TEXTS),) and scores.dtype == np.float32
        assert int(np.argmax(scores)) == best, (query, scores)
        assert scores[best] > 0
    scores = index.scores("bridge repairs")
    assert scores[2] > 0 and all(scores[i] == 0 for i in (0, 1, 3))


def test_rarer_terms_weigh_more(index: KeywordIndex) -> None:
    scores = index.scores("Quetta killing")
    assert scores[1] > scores[3] > 0


def test_unknown_query_scores_zero(index: KeywordIndex) -> None:
    for query in ("zebra unicorn", "", "the of and", "?!"):
        scores = index.scores(query)
        assert scores.shape == (len(TEXTS),)
        assert not scores.any(), query


def test_known_fraction(index: KeywordIndex) -> None:
    assert index.known_fraction("otters zebra") == 0.5
    assert index.known_fraction("Quetta protests") == 1.0
    assert index.known_fraction("the of") == 0.0


def test_passage_without_terms_still_takes_a_row() -> None:
    index = KeywordIndex.build(["the of and", "Quetta march"])
    assert index.size == 2
    scores = index.scores("Quetta")
    assert scores[0] == 0 and scores[1] > 0


def test_save_load_round_trip(index: KeywordIndex, tmp_path: Path) -> None:
    folder = tmp_path / "keyword"
    index.parts[0].save(folder)
    loaded = KeywordIndex((Postings.load(folder),), k1=index.k1, b=index.b)
    assert loaded.size == index.size
    for query in ("Quetta protests", "otters harbour spring", "zebra", "bridge reopened Monday"):
        np.testing.assert_array_equal(loaded.scores(query), index.scores(query))
        assert loaded.known_fraction(query) == index.known_fraction(query)


@pytest.mark.parametrize("live", [None, np.array([True, False, True, False])])
def test_idf_and_known_fraction_count_the_live_rows_holding_a_term(live: np.ndarray | None) -> None:
    """Over two parts, every row live (counted from posting lengths) or some dead (counted over live postings)."""
    index = KeywordIndex((Postings.build(TEXTS[:2]), Postings.build(TEXTS[2:])), live)
    alive = [i for i in range(len(TEXTS)) if live is None or live[i]]
    for word in ("quetta", "otters", "bridge", "protests", "zebra"):
        term = terms(word)[0]
        df = sum(term in terms(TEXTS[i]) for i in alive)
        assert index.idf([term]) == [pytest.approx(float(np.log(1 + (len(alive) - df + 0.5) / (df + 0.5))))]
        assert index.known_fraction(word) == (1.0 if df else 0.0)


def test_scored_lists_the_rows_of_every_positive_score() -> None:
    texts = ["otters in the harbour", "the harbour bridge", "otters sleep", "a stone bridge", "nothing here"]
    index = KeywordIndex.build(texts)
    scores, matched = index.scored("otters harbour bridge")
    assert np.array_equal(scores, index.scores("otters harbour bridge"))
    union = np.unique(np.concatenate(matched))
    assert union.tolist() == np.flatnonzero(scores > 0).tolist() == [0, 1, 2, 3]
    assert all(len(np.unique(rows)) == len(rows) for rows in matched)
    assert index.scored("zebra")[1] == []
