"""BEIR folder loading: corpus, queries, qrels and the error for each kind of bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import ROOT

from qa.base.errors import InvalidInput
from qa.evaluation.beir import load_corpus, load_qrels, load_queries, queries_for_split, splits

SCIFACT = ROOT.parent / "shared/bench/scifact"


def _jsonl(path: Path, records: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture
def beir(tmp_path: Path) -> Path:
    """A tiny BEIR folder: three documents (one untitled), three queries, a train and a test split."""
    _jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"_id": "d1", "title": "Vitamin D and bones", "text": "Vitamin D raises bone density.", "metadata": {}},
            {"_id": "d2", "title": "", "text": "Donated blood is screened for prions before transfusion."},
            {"_id": 3, "title": "Sign up trials", "text": "DESIGN Updated meta-analysis of randomised trials."},
        ],
    )
    _jsonl(
        tmp_path / "queries.jsonl",
        [
            {"_id": "q1", "text": "Does vitamin D help bones?"},
            {"_id": "q2", "text": "prions"},
            {"_id": "q3", "text": "x"},
        ],
    )
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\t3\t0\nq2\td2\t2\n")
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq3\td1\t1\n")
    return tmp_path


def test_corpus_prepends_the_title_to_the_text(beir: Path) -> None:
    docs = {d.id: d for d in load_corpus(beir)}
    assert list(docs) == ["d1", "d2", "3"]
    assert docs["d1"].title == "Vitamin D and bones"
    assert docs["d1"].text == "Vitamin D and bones\n\nVitamin D raises bone density."
    assert docs["d1"].origin is not None and docs["d1"].origin.endswith("corpus.jsonl:1")


def test_untitled_document_keeps_its_text_and_takes_its_first_words_as_title(beir: Path) -> None:
    doc = next(d for d in load_corpus(beir) if d.id == "d2")
    assert doc.text == "Donated blood is screened for prions before transfusion."
    assert doc.title == doc.text
    assert doc.author is None and doc.date is None


def test_queries_qrels_and_the_queries_of_a_split(beir: Path) -> None:
    queries = load_queries(beir)
    assert queries == {"q1": "Does vitamin D help bones?", "q2": "prions", "q3": "x"}
    assert splits(beir) == ["test", "train"]
    train = load_qrels(beir, "train")
    assert train == {"q1": {"d1": 1, "3": 0}, "q2": {"d2": 2}}
    assert queries_for_split(queries, train) == {"q1": "Does vitamin D help bones?", "q2": "prions"}
    assert queries_for_split(queries, load_qrels(beir, "test")) == {"q3": "x"}


def test_qrels_without_a_header_are_read_from_the_first_line(beir: Path) -> None:
    (beir / "qrels" / "dev.tsv").write_text("q1\td1\t1\n")
    assert load_qrels(beir, "dev") == {"q1": {"d1": 1}}


def test_missing_folder_and_files(tmp_path: Path, beir: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        load_corpus(tmp_path / "nowhere")
    (beir / "queries.jsonl").unlink()
    with pytest.raises(InvalidInput, match=r"queries\.jsonl does not exist"):
        load_queries(beir)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput, match=r"corpus\.jsonl does not exist"):
        load_corpus(empty)
    with pytest.raises(InvalidInput, match=r"qrels does not exist"):
        load_qrels(empty, "test")


def test_bad_json_line_is_named(beir: Path) -> None:
    with (beir / "corpus.jsonl").open("a") as fh:
        fh.write("{not json\n")
    with pytest.raises(InvalidInput, match=r"corpus\.jsonl:4: not valid JSON"):
        load_corpus(beir)


def test_missing_id_is_named(beir: Path) -> None:
    _jsonl(beir / "queries.jsonl", [{"_id": "q1", "text": "a"}, {"text": "no id"}])
    with pytest.raises(InvalidInput, match=r"queries\.jsonl:2: missing or empty '_id'"):
        load_queries(beir)
    _jsonl(beir / "corpus.jsonl", [{"_id": "", "title": "t", "text": "a"}])
    with pytest.raises(InvalidInput, match=r"corpus\.jsonl:1: missing or empty '_id'"):
        load_corpus(beir)


def test_missing_text_non_object_and_repeated_id(beir: Path) -> None:
    _jsonl(beir / "queries.jsonl", [{"_id": "q1"}])
    with pytest.raises(InvalidInput, match=r"queries\.jsonl:1: missing 'text'"):
        load_queries(beir)
    (beir / "corpus.jsonl").write_text('["a list"]\n')
    with pytest.raises(InvalidInput, match=r"corpus\.jsonl:1: expected a JSON object"):
        load_corpus(beir)
    _jsonl(beir / "corpus.jsonl", [{"_id": "a", "text": "x"}, {"_id": "a", "text": "y"}])
    with pytest.raises(InvalidInput, match=r"corpus\.jsonl:2: _id 'a' repeats line 1"):
        load_corpus(beir)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("q1\td1", "expected 3 tab-separated fields"),
        ("q1 d1 1", "expected 3 tab-separated fields"),
        ("q1\td1\t1\textra", "expected 3 tab-separated fields"),
        ("q1\td1\thigh", "score 'high' is not an integer"),
        ("q1\td1\t0.5", "score '0.5' is not an integer"),
        ("q1\td1\t2", r"q1 / d1 was already judged 1, now 2"),
    ],
)
def test_bad_qrels_row_is_named(beir: Path, row: str, message: str) -> None:
    (beir / "qrels" / "train.tsv").write_text(f"query-id\tcorpus-id\tscore\nq1\td1\t1\n{row}\n")
    with pytest.raises(InvalidInput, match=rf"train\.tsv:3: {message}"):
        load_qrels(beir, "train")


def test_unknown_split_lists_the_available_ones(beir: Path) -> None:
    with pytest.raises(InvalidInput, match=r"split 'dev' .*\(available: test, train\)"):
        load_qrels(beir, "dev")


def test_empty_qrels_and_judged_queries_missing_from_the_queries_file(beir: Path) -> None:
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n")
    with pytest.raises(InvalidInput, match="has no judgements"):
        load_qrels(beir, "test")
    with pytest.raises(InvalidInput, match=r"1 judged queries are not in queries\.jsonl \(e\.g\. q9\)"):
        queries_for_split({"q1": "a"}, {"q1": {"d1": 1}, "q9": {"d1": 1}})


@pytest.mark.skipif(not SCIFACT.is_dir(), reason=f"SciFact BEIR folder not found at {SCIFACT}")
def test_scifact_loads_fast() -> None:
    start = time.perf_counter()
    docs = load_corpus(SCIFACT)
    elapsed = time.perf_counter() - start
    queries = queries_for_split(load_queries(SCIFACT), load_qrels(SCIFACT, "train"))
    assert len(docs) == 5183
    assert len(queries) == 809
    assert elapsed < 2.0
    assert all(d.text.startswith(d.title + "\n\n") for d in docs if d.title)
