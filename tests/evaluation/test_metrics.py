"""Ranking metrics against hand-computed values, trec_eval tie order and TREC run files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from qa.base.errors import InvalidInput
from qa.evaluation.metrics import (
    evaluate_run,
    fold_to_documents,
    mrr_at,
    ndcg_at,
    ranking,
    read_trec_run,
    recall_at,
    write_trec_run,
)

QRELS = {"q1": {"d1": 1, "d3": 1}}
RUN = {"q1": {"d1": 0.9, "d2": 0.8, "d3": 0.7}}


def test_binary_relevance_by_hand() -> None:
    assert ndcg_at(RUN, QRELS, 10) == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert ndcg_at(RUN, QRELS, 1) == pytest.approx(1.0)
    assert recall_at(RUN, QRELS, 1) == 0.5
    assert recall_at(RUN, QRELS, 2) == 0.5
    assert recall_at(RUN, QRELS, 3) == 1.0
    assert mrr_at(RUN, QRELS, 10) == 1.0


def test_graded_relevance_uses_the_relevance_as_gain() -> None:
    qrels = {"q": {"a": 2, "b": 1, "c": 0, "n": -1}}
    run = {"q": {"b": 0.9, "c": 0.8, "x": 0.7, "a": 0.5}}  # ranking: b, c, x, a
    ideal = 2 + 1 / math.log2(3)
    assert ndcg_at(run, qrels, 10) == pytest.approx((1 + 2 / math.log2(5)) / ideal)
    assert ndcg_at(run, qrels, 2) == pytest.approx(1 / ideal)
    assert recall_at(run, qrels, 2) == 0.5  # relevance 0 and -1 are not relevant
    assert recall_at(run, qrels, 4) == 1.0
    assert mrr_at(run, qrels, 10) == 1.0
    assert mrr_at({"q": {"c": 0.9, "x": 0.8, "a": 0.1}}, qrels, 10) == pytest.approx(1 / 3)
    assert mrr_at({"q": {"c": 0.9, "x": 0.8, "a": 0.1}}, qrels, 2) == 0.0


def test_ties_are_broken_by_document_id_descending() -> None:
    assert ranking({"a": 1.0, "c": 1.0, "b": 1.0, "z": 0.5}) == ["c", "b", "a", "z"]
    assert ranking({"10": 0.3, "9": 0.3, "100": 0.3}) == ["9", "100", "10"]  # strcmp order, not numeric
    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 1.0, "b": 1.0, "c": 1.0}}
    assert mrr_at(run, qrels, 10) == pytest.approx(1 / 3)
    assert mrr_at(run, qrels, 2) == 0.0
    assert ndcg_at(run, qrels, 10) == pytest.approx(1 / math.log2(4))


def test_only_queries_in_both_run_and_qrels_are_averaged_unless_asked() -> None:
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}}
    run = {"q1": {"d1": 1.0}, "q2": {"x": 1.0}, "q9": {"d9": 1.0}}
    assert ndcg_at(run, qrels, 10) == 0.5  # q3 absent from the run, q9 has no qrels: both left out
    assert ndcg_at(run, qrels, 10, all_queries=True) == pytest.approx(1 / 3)  # q3 scores 0
    assert evaluate_run(run, qrels)["queries"] == 2
    assert evaluate_run(run, qrels, all_queries=True)["queries"] == 3


def test_a_judged_query_with_no_relevant_document_scores_zero() -> None:
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 0}}
    run = {"q1": {"d1": 1.0}, "q2": {"d2": 1.0}}
    assert ndcg_at(run, qrels, 10) == 0.5
    assert recall_at(run, qrels, 10) == 0.5
    assert mrr_at(run, qrels, 10) == 0.5


def test_evaluate_run_rounds_to_four_places() -> None:
    result = evaluate_run(RUN, QRELS)
    assert result == {
        "ndcg@10": round((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)), 4),
        "recall@10": 1.0,
        "recall@100": 1.0,
        "mrr@10": 1.0,
        "queries": 1,
    }
    assert result["ndcg@10"] == 0.9197
    assert evaluate_run({}, QRELS) == {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0, "queries": 0}


def test_cutoff_must_be_positive() -> None:
    with pytest.raises(InvalidInput, match="k=0"):
        ndcg_at(RUN, QRELS, 0)


def test_fold_keeps_each_documents_best_chunk() -> None:
    hits = [("a", 0.5), ("b", 0.9), ("a", 0.7), ("b", 0.1), ("c", -0.2)]
    assert fold_to_documents(hits) == {"a": 0.7, "b": 0.9, "c": -0.2}
    assert list(fold_to_documents(hits)) == ["a", "b", "c"]
    assert fold_to_documents([]) == {}


def test_trec_run_round_trip(tmp_path: Path) -> None:
    run = {"q2": {"d1": 0.1, "d2": 1 / 3, "d3": 1 / 3}, "q1": {"x": -2.5e-7, "y": 12345.678901234}}
    path = tmp_path / "run.trec"
    write_trec_run(run, path, "dense")
    lines = path.read_text().splitlines()
    assert lines[:3] == [
        f"q2 Q0 d3 1 {1 / 3!r} dense",
        f"q2 Q0 d2 2 {1 / 3!r} dense",
        "q2 Q0 d1 3 0.1 dense",
    ]
    assert lines[3:] == ["q1 Q0 y 1 12345.678901234 dense", "q1 Q0 x 2 -2.5e-07 dense"]
    assert read_trec_run(path) == run
    assert not list(tmp_path.glob(".tmp-*"))


def test_trec_run_rejects_what_the_format_cannot_hold(tmp_path: Path) -> None:
    path = tmp_path / "run.trec"
    with pytest.raises(InvalidInput, match="tag 'my run'"):
        write_trec_run(RUN, path, "my run")
    with pytest.raises(InvalidInput, match="document id 'd 1'"):
        write_trec_run({"q": {"d 1": 1.0}}, path, "t")
    with pytest.raises(InvalidInput, match="must be finite"):
        write_trec_run({"q": {"d": math.nan}}, path, "t")
    assert not path.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("q1 Q0 d1 1 0.5\n", r"run\.trec:1: expected 6 fields"),
        ("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 high t\n", r"run\.trec:2: score 'high' is not a number"),
        ("q1 Q0 d1 1 0.5 t\nq1 Q0 d1 2 0.4 t\n", r"run\.trec:2: document 'd1' is listed twice"),
    ],
)
def test_bad_run_file_lines_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "run.trec"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        read_trec_run(path)


def test_missing_run_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        read_trec_run(tmp_path / "none.trec")
