"""Extractive answers: candidate sentences, their learned ranking, choice, citations and confidence (real model)."""

from __future__ import annotations

import itertools
import re

import pytest
from conftest import DATA

from qa.answers import extractive as answer
from qa.answers.extractive import SECOND_MARGIN, choose, compose, confidence
from qa.answers.signals import SENTENCE, Candidate, Focus
from qa.base.records import Document, Hit, Passage, Scores
from qa.evaluation.questions import load_questions
from qa.retrieval.search import search
from qa.service.engine import Engine
from qa.store.corpus import make_document

Sentence = Candidate

DEV_QUESTIONS = [q.question for q in load_questions(DATA / "dev_qa.jsonl")]
RALLY = "Where did the BYC stage its big rally in early 2025?"
INCOME = "What is the average household income in Balochistan?"
UNRELATED = "What is the best recipe for sourdough bread with rye flour?"


def retrieve(engine: Engine, question: str, top_k: int = 5) -> tuple[list[Hit], list[Sentence]]:
    """The hits and ranked candidate sentences the engine would use for a question."""
    vector = engine.encoder.encode([question])[0]
    hits = search(engine.index, question, vector, engine.settings.search, top_k)
    asked = Focus.of(question, engine.index)
    return hits, answer.ranked(asked, vector, hits, engine.index, engine.decision)


@pytest.fixture(scope="module")
def ranked_dev(engine: Engine) -> list[tuple[str, list[Hit], list[Sentence]]]:
    return [(q, *retrieve(engine, q)) for q in DEV_QUESTIONS]


def test_overlapping_passages_share_sentences(engine: Engine) -> None:
    # Precondition of the next test: consecutive passages of a document overlap, so they share sentences.
    passages = engine.index.passages
    assert any(a.doc_id == b.doc_id and b.start < a.end for a, b in itertools.pairwise(passages))


def test_candidates_are_unique_sentences(ranked_dev: list[tuple[str, list[Hit], list[Sentence]]]) -> None:
    shared = 0
    for question, hits, ranked in ranked_dev:
        keys = [(s.hit.passage.doc_id, s.start) for s in ranked]
        assert len(keys) == len(set(keys)), question
        top = hits[: answer.CANDIDATE_PASSAGES]
        shared += any(
            a.passage.doc_id == b.passage.doc_id and a.passage.start < b.passage.end and b.passage.start < a.passage.end
            for i, a in enumerate(top)
            for b in top[i + 1 :]
        )
    assert shared, "some question retrieves overlapping passages, so deduplication is exercised"


def test_candidates_lie_inside_their_hits_and_are_sorted(
    engine: Engine, ranked_dev: list[tuple[str, list[Hit], list[Sentence]]]
) -> None:
    for question, hits, ranked in ranked_dev:
        assert ranked, question
        top_ranks = {h.rank for h in hits[: answer.CANDIDATE_PASSAGES]}
        for sent in ranked:
            assert sent.hit.rank in top_ranks
            assert sent.hit.passage.start <= sent.start < sent.end <= sent.hit.passage.end
            text = engine.index.documents[sent.hit.passage.doc_id].text[sent.start : sent.end]
            assert text == text.strip() and len(text.split()) >= 4
            assert -1.0 - 1e-6 <= similarity(sent) <= 1.0 + 1e-6
        scores = [s.score for s in ranked]
        assert scores == sorted(scores, reverse=True)


def test_candidates_similarity_is_the_sentence_embedding(engine: Engine) -> None:
    _, ranked = retrieve(engine, RALLY)
    vector = engine.encoder.encode([RALLY])[0]
    texts = [engine.index.documents[s.hit.passage.doc_id].text[s.start : s.end] for s in ranked[:5]]
    expected = engine.encoder.encode(texts) @ vector
    assert [similarity(s) for s in ranked[:5]] == pytest.approx(expected.tolist(), abs=1e-4)


def similarity(candidate: Candidate) -> float:
    """A candidate's cosine to the question, one of its features."""
    return candidate.features[SENTENCE.index("sim")]


def test_candidates_of_no_hits_are_empty(engine: Engine) -> None:
    vector = engine.encoder.encode([RALLY])[0]
    assert answer.ranked(Focus.of(RALLY, engine.index), vector, [], engine.index, engine.decision) == []


def test_typed_sentences_win_for_typed_questions(engine: Engine) -> None:
    _, ranked = retrieve(engine, "How many Baloch fighters were killed in last year's insurgent operations?")
    assert ranked[0].features[SENTENCE.index("typed_hit")] == 1.0
    assert re.search(r"\d", engine.index.documents[ranked[0].hit.passage.doc_id].text[ranked[0].start : ranked[0].end])


def test_compose_markers_are_hit_ranks_and_quotes_are_exact(
    engine: Engine, ranked_dev: list[tuple[str, list[Hit], list[Sentence]]]
) -> None:
    docs = engine.index.documents
    for question, hits, ranked in ranked_dev:
        chosen = choose(ranked, 2)
        text, citations = compose(chosen, docs)
        assert [int(n) for n in re.findall(r"\[(\d+)\]", text)] == [c.n for c in citations], question
        by_rank = {h.rank: h for h in hits}
        for sent, cite in zip(chosen, citations, strict=True):
            assert cite.n == sent.hit.rank and cite.n in by_rank
            assert cite.doc_id == by_rank[cite.n].passage.doc_id
            assert cite.title == docs[cite.doc_id].title
            assert cite.quote == docs[cite.doc_id].text[cite.start : cite.end]
            assert (cite.start, cite.end) == (sent.start, sent.end)
            assert f"{' '.join(cite.quote.split())} [{cite.n}]" in text


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_choose_respects_limit_and_distinct_hits(
    limit: int, ranked_dev: list[tuple[str, list[Hit], list[Sentence]]]
) -> None:
    for question, _, ranked in ranked_dev:
        chosen = choose(ranked, limit)
        assert 1 <= len(chosen) <= limit, question
        assert len({s.hit.rank for s in chosen}) == len(chosen), question
        assert ranked[0] in chosen, "the best sentence is always kept"
        assert all(s.score >= ranked[0].score - SECOND_MARGIN for s in chosen)


def test_confidence_is_bounded_and_orders_answerable_above_unanswerable(
    engine: Engine, ranked_dev: list[tuple[str, list[Hit], list[Sentence]]]
) -> None:
    def conf(question: str, hits: list[Hit], ranked: list[Candidate]) -> float:
        return confidence(Focus.of(question, engine.index), ranked, hits, engine.decision)

    for question, hits, ranked in ranked_dev:
        assert 0.0 <= conf(question, hits, ranked) <= 1.0, question
    rally = conf(RALLY, *retrieve(engine, RALLY))
    income = conf(INCOME, *retrieve(engine, INCOME))
    unrelated = conf(UNRELATED, *retrieve(engine, UNRELATED))
    assert max(income, unrelated) < engine.threshold <= rally


def test_confidence_of_nothing_is_zero(engine: Engine) -> None:
    assert confidence(Focus.of(RALLY, engine.index), [], [], engine.decision) == 0.0


# Hand-made sentences and hits for unit tests of choose and compose.

DOC = make_document(
    "d1",
    "Otters return\n\nThe otters came back in spring.  Twelve   otters\nlive on the rocks. Nobody knows why they left.",
)
OTHER = make_document("d2", "Harbour news\n\nThe harbour master counted the otters on Monday.")
DOCS: dict[str, Document] = {DOC.id: DOC, OTHER.id: OTHER}


def make_hit(rank: int, doc: Document = DOC) -> Hit:
    start = doc.text.index("\n\n") + 2
    passage = Passage(doc_id=doc.id, start=start, end=len(doc.text), text=doc.text[start:])
    return Hit(rank=rank, passage=passage, title=doc.title, scores=Scores(dense=0.5, keyword=1.0, fused=1.0))


def sentence(hit: Hit, words: str, score: float) -> Sentence:
    text = DOCS[hit.passage.doc_id].text
    start = text.index(words)
    features = (0.0,) * len(SENTENCE)
    return Candidate(
        hit=hit, row=start, start=start, end=start + len(words), text=words, features=features, score=score
    )


def test_choose_unit_margin_limit_and_order() -> None:
    h1, h2, h3 = make_hit(1), make_hit(2, OTHER), make_hit(3)
    best = sentence(h2, "The harbour master counted the otters on Monday.", 1.0)
    same_hit = sentence(h2, "The harbour master", 0.99)
    close = sentence(h1, "Nobody knows why they left.", 1.0 - SECOND_MARGIN / 2)
    closer_third = sentence(h3, "The otters came back in spring.", 1.0 - SECOND_MARGIN / 2)
    far = sentence(h3, "The otters came back in spring.", 1.0 - 2 * SECOND_MARGIN)

    assert choose([], 2) == []
    assert choose([best, same_hit, close], 1) == [best]
    # The runner-up from the same hit is skipped; the next one from another hit is taken, and the result is in
    # hit-rank order.
    assert choose([best, same_hit, close], 2) == [close, best]
    assert choose([best, same_hit, close, closer_third], 3) == [close, best, closer_third]
    # Below the margin nothing more is added, even with room left.
    assert choose([best, far], 3) == [best]
    assert choose([best, same_hit], 3) == [best]


def test_compose_unit_normalises_spaces_but_quotes_exactly() -> None:
    hit = make_hit(4)
    words = "Twelve   otters\nlive on the rocks."
    text, citations = compose([sentence(hit, words, 1.0)], DOCS)
    assert text == "Twelve otters live on the rocks. [4]"
    (cite,) = citations
    assert cite.quote == words == DOC.text[cite.start : cite.end]
    assert (cite.n, cite.doc_id, cite.title) == (4, "d1", "Otters return")
    assert compose([], DOCS) == ("", ())


def test_compose_unit_gives_each_citation_its_answer_span() -> None:
    words = "Twelve   otters\nlive on the rocks."
    hit = make_hit(4)
    _, (plain,) = compose([sentence(hit, words, 1.0)], DOCS)
    assert plain.answer_span is None, "no question, no span"
    _, (cite,) = compose([sentence(hit, words, 1.0)], DOCS, "How many otters live on the rocks?")
    assert cite.answer_span is not None and cite.start <= cite.answer_span.start < cite.answer_span.end <= cite.end
    assert DOC.text[cite.answer_span.start : cite.answer_span.end] == "Twelve"
    _, (why,) = compose([sentence(hit, words, 1.0)], DOCS, "Why do otters live on the rocks?")
    assert why.answer_span is None


def test_compose_unit_two_sources() -> None:
    first = sentence(make_hit(1), "The otters came back in spring.", 1.0)
    second = sentence(make_hit(3, OTHER), "The harbour master counted the otters on Monday.", 0.98)
    text, citations = compose([first, second], DOCS)
    assert text == "The otters came back in spring. [1] The harbour master counted the otters on Monday. [3]"
    assert [(c.n, c.doc_id) for c in citations] == [(1, "d1"), (3, "d2")]
