"""BEIR runs through the production pipeline: folding chunks to documents, run files, metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeEncoder

from qa.base.settings import Settings
from qa.evaluation.benchmark import run_beir
from qa.evaluation.metrics import read_trec_run

DOCS = {
    "d1": ("Otters", " ".join(f"Otters returned to the harbour in spring for the {i}th time." for i in range(40))),
    "d2": ("Herons", "Grey herons nest in tall trees near the river. " * 3),
    "d3": ("Salmon", "Salmon swim upstream to spawn every autumn. " * 3),
}
QUERIES = {"q1": "otters harbour spring", "q2": "herons nest trees", "q3": "salmon spawn upstream"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, (t, x) in DOCS.items())
    )
    (tmp_path / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items())
    )
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n")
    return tmp_path


def test_run_folds_chunks_and_scores(folder: Path, fake_encoder: FakeEncoder, tmp_path: Path) -> None:
    settings = Settings.of(chunk_tokens=64, chunk_overlap=16)
    out = tmp_path / "run.trec"
    result = run_beir(folder, "test", settings, fake_encoder, run_out=out)
    assert result.documents == 3
    assert result.passages > 3  # d1 is long enough for several chunks
    assert result.metrics["queries"] == 3
    assert result.metrics["ndcg@10"] == 1.0
    assert result.metrics["mrr@10"] == 1.0
    for qid, docs in result.run.items():
        assert len(docs) == len(set(docs)) <= 3  # one entry per document, however many chunks matched
        assert max(docs, key=lambda d: docs[d]) == {"q1": "d1", "q2": "d2", "q3": "d3"}[qid]
    assert read_trec_run(out) == result.run


def test_unknown_split_names_the_ones_there(folder: Path, fake_encoder: FakeEncoder) -> None:
    with pytest.raises(Exception, match="test"):
        run_beir(folder, "dev", Settings(), fake_encoder)


class Backwards:
    """A reranker that prefers whatever the first stage liked least: its effect on the run is unmistakable."""

    name = "backwards"

    def score(self, query: str, texts: list[str]) -> list[float]:
        return [float(i) for i in range(len(texts))]


def test_reranker_reorders_the_run(folder: Path, fake_encoder: FakeEncoder) -> None:
    settings = Settings.of(chunk_tokens=64, chunk_overlap=16, rerank_depth=50)
    plain = run_beir(folder, "test", settings, fake_encoder)
    flipped = run_beir(folder, "test", settings, fake_encoder, reranker=Backwards())
    for qid, docs in flipped.run.items():
        assert set(docs) == set(plain.run[qid])
        ranked = sorted(docs, key=lambda d: -docs[d])
        assert ranked[0] != max(plain.run[qid], key=lambda d: plain.run[qid][d])  # the reranker's order won
        assert all(0 < score <= 1 for score in docs.values())  # folded by 1 / best rank
    assert flipped.metrics["mrr@10"] < 1.0
