"""Hybrid search over a small in-memory index with the fake encoder: ranks, scores, fusion and weights."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from conftest import FakeEncoder

import qa.retrieval.search
from qa.base.records import Hit
from qa.base.settings import Settings
from qa.retrieval.search import _cosines, _scaled, keyword_found, search, top_rows
from qa.store.corpus import make_document
from qa.store.index import Index, dense_vectors
from qa.store.part import Part
from qa.store.snapshot import build_from_documents

DOCS = [
    make_document(
        "otters",
        "Otters return to the harbour\n\n"
        "The otters returned to the harbour in spring after twenty years away. "
        "Fishermen in the harbour counted twelve otters on the rocks by the old pier. "
        "The harbour master said the otters eat crabs and fish. "
        "Visitors are asked to keep their dogs away from the rocks. "
        "The otters sleep in the reeds at the far end of the harbour. "
        "A local school is naming the otters after famous sailors.",
    ),
    make_document(
        "bridge",
        "Bridge reopens\n\nThe old stone bridge reopened on Monday after two years of repairs. "
        "Engineers replaced the arches of the bridge and the council paid for the stone.",
    ),
    make_document(
        "march",
        "Long march reaches Quetta\n\n"
        "Protesters marched from Turbat to Quetta demanding answers about the killing. "
        "The march lasted ten days and thousands joined it on the road to Quetta.",
    ),
    make_document(
        "airship",
        "Harbour festival\n\n"
        "A zeppelin floated above the harbour festival while bands played on the quay, "
        "children bought ice cream, families watched fireworks over the water, and the festival lasted the weekend.",
    ),
]
SETTINGS = Settings.of(chunk_tokens=32, chunk_overlap=8, sentence_weight=0.0)  # fusion alone; the sentence signal below
QUERIES = ["otters in the harbour", "stone bridge repairs", "march to Quetta", "zeppelin festival", "crabs"]


@pytest.fixture
def index(fake_encoder: FakeEncoder) -> Index:
    return build_from_documents(DOCS, SETTINGS.build, fake_encoder)


def run(index: Index, encoder: FakeEncoder, query: str, top_k: int = 10, **changes: object) -> list[Hit]:
    settings = SETTINGS.replace(**changes)
    return search(index, query, encoder.encode([query])[0], settings.search, top_k)


def row_of(index: Index, hit: Hit) -> int:
    return index.passages.index(hit.passage)


def test_index_has_several_passages_per_long_document(index: Index) -> None:
    # The tests below rely on more passages than documents (and on top_k exceeding the passage count).
    assert len(index.passages) > len(DOCS)
    assert sum(p.doc_id == "otters" for p in index.passages) >= 2


@pytest.mark.parametrize("fusion", ["rrf", "convex"])
@pytest.mark.parametrize("query", QUERIES)
def test_hits_are_ranked_with_non_increasing_fused_scores(
    index: Index, fake_encoder: FakeEncoder, fusion: str, query: str
) -> None:
    hits = run(index, fake_encoder, query, top_k=5, fusion=fusion)
    assert 1 <= len(hits) <= 5
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    fused = [h.scores.fused for h in hits]
    assert fused == sorted(fused, reverse=True)
    rows = [row_of(index, h) for h in hits]
    assert len(set(rows)) == len(rows), "a passage is returned once"
    for hit in hits:
        doc = index.documents[hit.passage.doc_id]
        assert hit.title == doc.title
        assert doc.text[hit.passage.start : hit.passage.end] == hit.passage.text


@pytest.mark.parametrize("fusion", ["rrf", "convex"])
@pytest.mark.parametrize("query", QUERIES)
def test_dense_and_keyword_scores_are_the_real_ones(
    index: Index, fake_encoder: FakeEncoder, fusion: str, query: str
) -> None:
    vector = fake_encoder.encode([query])[0]
    keyword = index.keyword.scores(query)
    hits = search(index, query, vector, SETTINGS.replace(fusion=fusion).search, 10)
    for hit in hits:
        row = row_of(index, hit)
        assert hit.scores.dense == pytest.approx(float(dense_vectors(index, [row])[0] @ vector), abs=1e-5)
        assert hit.scores.keyword == pytest.approx(float(keyword[row]), abs=1e-6)


def test_keyword_only_passage_is_found_and_scored(index: Index, fake_encoder: FakeEncoder) -> None:
    # Stopwords fill the fake dense vector, so dense search prefers passages full of "the" and "of";
    # BM25 drops stopwords and finds the one passage that names the zeppelin.
    query = "Where was the zeppelin in the story of the town?"
    vector = fake_encoder.encode([query])[0]
    target = next(r for r, p in enumerate(index.passages) if "zeppelin" in p.text)
    assert index.dense_search(vector, 1)[0][0] != target, "precondition: dense search alone does not find it first"
    assert int(np.argmax(index.keyword.scores(query))) == target

    for fusion in ("rrf", "convex"):
        hits = search(index, query, vector, SETTINGS.replace(fusion=fusion, candidates=1).search, 5)
        found = [h for h in hits if row_of(index, h) == target]
        assert len(found) == 1, fusion
        # Its dense score is filled in from the stored vector, not left empty.
        assert found[0].scores.dense == pytest.approx(float(dense_vectors(index, [target])[0] @ vector), abs=1e-5)
        assert (found[0].scores.keyword or 0.0) > 0
        assert len(hits) == 2, "one passage from each list when each looks at one candidate"


def test_rrf_scores_follow_the_formula(index: Index, fake_encoder: FakeEncoder) -> None:
    query = "otters in the harbour"
    vector = fake_encoder.encode([query])[0]
    settings = SETTINGS.replace(fusion="rrf", dense_weight=0.7, keyword_weight=1.3, rrf_k=10)
    total = len(index.passages)
    dense_rows = [[row for row, _ in index.dense_search(vector, total)]]
    keyword = index.keyword.scores(query)
    keyword_rows = [int(r) for r in np.argsort(-keyword, kind="stable") if keyword[r] > 0]
    expected = dict.fromkeys(range(total), 0.0)
    for rank, row in enumerate(dense_rows[0], 1):
        expected[int(row)] += 0.7 / (10 + rank)
    for rank, row in enumerate(keyword_rows, 1):
        expected[row] += 1.3 / (10 + rank)
    for hit in search(index, query, vector, settings.search, total):
        assert hit.scores.fused == pytest.approx(expected[row_of(index, hit)])


def test_convex_scores_are_normalised(index: Index, fake_encoder: FakeEncoder) -> None:
    hits = run(index, fake_encoder, "otters in the harbour", top_k=50, fusion="convex")
    assert all(0.0 <= h.scores.fused <= 1.0 + 1e-9 for h in hits)
    # The passage best on both dense and keyword scores gets the full score.
    best = hits[0]
    assert best.scores.dense == max(h.scores.dense or 0.0 for h in hits)
    assert best.scores.keyword == max(h.scores.keyword or 0.0 for h in hits)
    assert best.scores.fused == pytest.approx(1.0)


def test_fusions_rank_differently_scored_but_same_passages(index: Index, fake_encoder: FakeEncoder) -> None:
    rrf = run(index, fake_encoder, "stone bridge repairs", top_k=50, fusion="rrf")
    convex = run(index, fake_encoder, "stone bridge repairs", top_k=50, fusion="convex")
    assert {row_of(index, h) for h in rrf} == {row_of(index, h) for h in convex} == set(range(len(index.passages)))
    assert rrf[0].passage.doc_id == convex[0].passage.doc_id == "bridge"
    assert [h.scores.fused for h in rrf] != [h.scores.fused for h in convex]


@pytest.mark.parametrize("fusion", ["rrf", "convex"])
@pytest.mark.parametrize("query", QUERIES)
def test_dense_weight_zero_follows_bm25(index: Index, fake_encoder: FakeEncoder, fusion: str, query: str) -> None:
    hits = run(index, fake_encoder, query, top_k=50, fusion=fusion, dense_weight=0.0)
    keyword = [h.scores.keyword or 0.0 for h in hits]
    assert keyword == sorted(keyword, reverse=True)
    assert keyword[0] == pytest.approx(float(index.keyword.scores(query).max()))
    assert keyword[0] > 0


@pytest.mark.parametrize("fusion", ["rrf", "convex"])
@pytest.mark.parametrize("query", QUERIES)
def test_keyword_weight_zero_follows_dense(index: Index, fake_encoder: FakeEncoder, fusion: str, query: str) -> None:
    hits = run(index, fake_encoder, query, top_k=50, fusion=fusion, keyword_weight=0.0)
    dense = [h.scores.dense or 0.0 for h in hits]
    assert dense == sorted(dense, reverse=True)
    vector = fake_encoder.encode([query])[0]
    assert dense[0] == pytest.approx(float((dense_vectors(index, list(range(len(index.passages)))) @ vector).max()))


def test_weights_change_the_winner(index: Index, fake_encoder: FakeEncoder) -> None:
    # The zeppelin query again: dense alone and keyword alone disagree, and the weights pick between them.
    query = "Where was the zeppelin in the story of the town?"
    by_dense = run(index, fake_encoder, query, keyword_weight=0.0)[0]
    by_keyword = run(index, fake_encoder, query, dense_weight=0.0)[0]
    assert "zeppelin" in by_keyword.passage.text
    assert "zeppelin" not in by_dense.passage.text


def test_top_k_larger_than_the_index_returns_every_passage(index: Index, fake_encoder: FakeEncoder) -> None:
    for fusion in ("rrf", "convex"):
        hits = run(index, fake_encoder, "otters", top_k=1000, fusion=fusion)
        assert len(hits) == len(index.passages)
        assert sorted(row_of(index, h) for h in hits) == list(range(len(index.passages)))


def test_top_k_cuts_the_list(index: Index, fake_encoder: FakeEncoder) -> None:
    full = run(index, fake_encoder, "otters in the harbour", top_k=50)
    assert run(index, fake_encoder, "otters in the harbour", top_k=2) == full[:2]
    assert run(index, fake_encoder, "otters in the harbour", top_k=1) == full[:1]


def test_query_of_unknown_words_still_ranks_by_dense(index: Index, fake_encoder: FakeEncoder) -> None:
    hits = run(index, fake_encoder, "xylophone quixotic", top_k=3, fusion="convex")
    assert hits, "dense search always returns candidates"
    assert all(h.scores.keyword == 0.0 for h in hits)


def test_empty_index_returns_nothing(index: Index, fake_encoder: FakeEncoder) -> None:
    empty = Index.single(index.manifest, {}, Part.empty(fake_encoder.dimension))
    for fusion in ("rrf", "convex"):
        assert run(empty, fake_encoder, "otters", fusion=fusion) == []


def test_sentence_signal_adds_the_best_sentence(index: Index, fake_encoder: FakeEncoder) -> None:
    query = "otters in the harbour"
    plain = {row_of(index, h): h for h in run(index, fake_encoder, query, top_k=50)}
    boosted = run(index, fake_encoder, query, top_k=50, sentence_weight=0.5)
    assert all(h.scores.sentence is None for h in plain.values())
    vector = fake_encoder.encode([query])[0]
    sims = index.sentences.vectors_at(list(range(len(index.sentences.spans)))) @ vector  # every row's cosine
    assert max(h.scores.sentence or 0.0 for h in boosted) == pytest.approx(1.0)  # the passage with the best sentence
    for hit in boosted:
        row = row_of(index, hit)
        inside = index.sentences.rows_in(hit.passage)
        assert (hit.scores.sentence is None) == (not inside)
        if inside:
            assert hit.scores.sentence is not None and 0.0 <= hit.scores.sentence <= 1.0
            assert hit.scores.sentence > 0 or sims[inside].max() <= sorted(sims)[-min(300, len(sims))]
        extra = 0.5 * (hit.scores.sentence or 0.0)
        assert hit.scores.fused == pytest.approx(plain[row].scores.fused + extra)
    fused = [h.scores.fused for h in boosted]
    assert fused == sorted(fused, reverse=True)
    assert run(index, fake_encoder, query, top_k=50, fusion="rrf", sentence_weight=0.5)[0].scores.sentence is None


class Aside(ThreadPoolExecutor):
    """A one-thread executor that records the threads its jobs ran in."""

    def __init__(self) -> None:
        super().__init__(1)
        self.threads: list[int] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def run() -> Any:
            self.threads.append(threading.get_ident())
            return fn(*args, **kwargs)

        return super().submit(run)


@pytest.mark.parametrize("query", QUERIES)
def test_work_done_aside_gives_the_same_hits(index: Index, fake_encoder: FakeEncoder, query: str) -> None:
    """The keyword side found beforehand and the keyword rows' sentences scored in another thread change nothing."""
    settings = SETTINGS.replace(sentence_weight=0.5).search
    vector = fake_encoder.encode([query])[0]
    alone = search(index, query, vector, settings, 50)
    with Aside() as aside:
        found = keyword_found(index, query, settings)
        beside = search(index, query, vector, settings, 50, keyword=found, aside=aside)
    assert aside.threads and threading.get_ident() not in aside.threads
    assert [h.passage for h in beside] == [h.passage for h in alone]
    for a, b in zip(alone, beside, strict=True):
        assert (a.scores.dense, a.scores.keyword) == (b.scores.dense, b.scores.keyword)
        assert b.scores.fused == pytest.approx(a.scores.fused, abs=1e-6)
        assert b.scores.sentence == pytest.approx(a.scores.sentence, abs=1e-6)


@pytest.mark.parametrize("depth", [2, 3, 300])
def test_sentences_scored_in_two_parts_scale_as_in_one(
    fake_encoder: FakeEncoder, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    """Split the candidates in two (one sentence inside passages of both): the scaled scores are those of one part,
    each sentence counted once (a shallow ``SENTENCE_DEPTH`` would show one counted twice)."""
    monkeypatch.setattr(qa.retrieval.search, "SENTENCE_DEPTH", depth)
    index = build_from_documents(DOCS, Settings.of(chunk_tokens=40, chunk_overlap=20).build, fake_encoder)
    vector = fake_encoder.encode(["otters in the harbour"])[0]
    rows = list(range(len(index.passages)))
    whole = _scaled([_cosines(index, vector, rows)])
    for cut in range(1, len(rows)):
        first, second = _cosines(index, vector, rows[:cut]), _cosines(index, vector, rows[cut:])
        if set(first.sentences.tolist()) & set(second.sentences.tolist()):
            break
    else:
        pytest.fail("no two neighbouring passages share a sentence: the chunks should overlap by whole sentences")
    split = _scaled([first, second])
    assert split.keys() == whole.keys() and max(split.values()) == 1.0
    assert all(split[r] == pytest.approx(whole[r], abs=1e-6) for r in whole)


def test_top_rows_equals_a_stable_sort_of_the_positive_scores() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        scores = np.round(rng.random(int(rng.integers(1, 400))) * 3 - 1, 1).astype(np.float32)
        depth = int(rng.integers(1, 60))
        want = [int(r) for r in np.argsort(-scores, kind="stable")[:depth] if scores[r] > 0]
        assert top_rows(scores, depth) == want


def test_top_rows_among_posting_lists_equals_looking_at_every_row() -> None:
    """Given arrays of distinct rows whose union holds every positive row, the answer is the whole scan's."""
    rng = np.random.default_rng(1)
    for _ in range(300):
        size = int(rng.integers(1, 500))
        lists = [np.sort(rng.choice(size, int(rng.integers(0, size + 1)), replace=False)) for _ in range(3)]
        lists = [rows.astype(np.int64) for rows in lists[: int(rng.integers(1, 4))]]
        scores = np.zeros(size, dtype=np.float32)
        for rows in lists:
            scores[rows] += np.round(rng.random(len(rows)) * 3, 1).astype(np.float32)  # ties and zeros on purpose
        if rng.random() < 0.3:
            scores[rng.random(size) < 0.3] = 0.0  # a filter's rows
        depth = int(rng.integers(1, 80))
        assert top_rows(scores, depth, among=lists) == top_rows(scores, depth)
