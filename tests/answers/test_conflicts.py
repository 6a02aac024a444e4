"""Disagreements: different figures or dates for the same thing in different articles, and different people or
places in answer to who and where questions."""

from __future__ import annotations

import pytest
from conftest import FakeEncoder

import qa.base.sentences
from qa.answers.conflicts import BOTH_NOTES, MIN_MATCH, OTHER_NOTES, answers, disagreements, with_other_answers
from qa.answers.question import PERSON, PLACE
from qa.base.records import Document, Hit, Passage, Scores
from qa.service.engine import Engine
from qa.store.sentence_table import SentenceTable


def corpus(*texts: tuple[str, str]) -> tuple[list[Hit], SentenceTable]:
    """Hits (rank order) over documents whose passage is the text after a lead line, and their sentence table."""
    hits, docs = [], {}
    for rank, (doc_id, text) in enumerate(texts, 1):
        doc = docs.get(doc_id) or Document(id=doc_id, title=doc_id, text="Lead line.\n\n")
        start = len(doc.text)
        doc = Document(id=doc_id, title=doc_id, text=doc.text + text + "\n\n")
        docs[doc_id] = doc
        passage = Passage(doc_id=doc_id, start=start, end=start + len(text), text=text)
        hits.append(Hit(rank=rank, passage=passage, title=doc_id, scores=Scores(dense=None, keyword=None, fused=1.0)))
    return hits, SentenceTable.build([h.passage for h in hits], docs, FakeEncoder(), batch_size=8)


def test_different_tolls_for_the_same_attack() -> None:
    hits, table = corpus(
        ("a", "The attack on the convoy near Quetta killed 12 people, officials said. The road reopened."),
        ("b", "Unrelated: the festival drew 300 visitors."),
        ("c", "Hospital staff said the attack on the convoy near Quetta killed 15 people."),
    )
    (found,) = disagreements(hits, table)
    assert (found.first.rank, found.second.rank) == (1, 3)
    assert found.first.figures == ("12",) and found.second.figures == ("15",)
    assert {"attack", "convoy", "quetta", "kill"} <= set(found.subject)
    for side in (found.first, found.second):
        passage = hits[side.rank - 1].passage
        assert passage.text[side.start - passage.start : side.end - passage.start] == side.quote


def test_different_dates() -> None:
    hits, table = corpus(
        ("a", "The BYC held its rally in Dalbandin on 3 March 2025."),
        ("b", "The BYC rally in Dalbandin took place in April 2025."),
    )
    (found,) = disagreements(hits, table)
    assert set(found.first.figures) - set(found.second.figures) == {"3", "March"}
    assert set(found.second.figures) - set(found.first.figures) == {"April"}


def test_agreement_added_detail_same_article_or_other_subject_are_not_disagreements() -> None:
    same = corpus(("a", "The attack on the convoy killed 12 people."), ("b", "The convoy attack killed 12 people."))
    added = corpus(
        ("a", "The attack on the convoy killed 12 people."), ("b", "The attack on the convoy killed 12 people in 2024.")
    )
    one_article = corpus(
        ("a", "The attack on the convoy killed 12 people."), ("a", "The attack on the convoy killed 15 people.")
    )
    other = corpus(
        ("a", "The attack on the convoy killed 12 people."), ("b", "Wheat prices rose by 15 percent in Lahore.")
    )
    no_figures = corpus(
        ("a", "The attack on the convoy was condemned."), ("b", "Leaders condemned the attack on the convoy.")
    )
    for hits, table in (same, added, one_article, other, no_figures):
        assert disagreements(hits, table) == []


def test_only_the_top_passages_are_compared() -> None:
    hits, table = corpus(
        ("a", "The attack on the convoy killed 12 people."),
        *[(f"x{i}", "A filler passage about the weather.") for i in range(5)],
        ("b", "The attack on the convoy killed 15 people."),
    )
    assert disagreements(hits, table) == []
    assert len(disagreements(hits, table, top=7)) == 1


def test_statements_are_the_sentence_tables_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    hits, table = corpus(
        ("a", "The attack on the convoy near Quetta killed 12 people, officials said."),
        ("b", "Hospital staff said the attack on the convoy near Quetta killed 15 people."),
    )

    def no_split(*_args: object) -> None:
        pytest.fail("a passage was split into sentences again at query time")

    monkeypatch.setattr(qa.base.sentences, "_blocks", no_split)
    (found,) = disagreements(hits, table)
    assert {(s.doc_id, s.start, s.end, s.quote) for s in (found.first, found.second)} == {
        (span.doc_id, span.start, span.end, span.text) for span in table.spans
    }


# Who and where: different people, groups or places for the same event.

KILLED = "Who were the 214 people the BLA claimed to have killed?"
HEADED = "Where was the long march headed?"


def test_answers_are_the_matching_sentences_with_their_spans() -> None:
    hits, table = corpus(
        ("a", "The long march ended in Islamabad in January. The weather was cold."),
        ("b", "Organisers said the long march would end in Quetta."),
        ("c", "The wheat harvest in Sindh was poor this year."),
    )
    found = answers("Where did the long march end?", hits, table)
    assert {(a.doc_id, a.answer) for a in found} == {("a", "Islamabad"), ("b", "Quetta")}
    for a in found:
        passage = hits[a.rank - 1].passage
        assert passage.text[a.start - passage.start : a.end - passage.start] == a.quote
        assert a.start <= a.span.start < a.span.end <= a.end and a.match >= MIN_MATCH
    first, second = found
    assert first.differs(second) and second.differs(first)


def test_same_answer_same_article_or_an_acronym_do_not_differ() -> None:
    hits, table = corpus(
        ("a", "The convoy attack near Quetta was carried out by the Baloch Liberation Army, police said."),
        ("b", "Officials blamed the BLA for the convoy attack near Quetta."),
        ("b", "Officials blamed the Frontier Corps for the convoy attack near Quetta."),
    )
    found = {(a.doc_id, a.answer): a for a in answers("Who carried out the convoy attack near Quetta?", hits, table)}
    long, short, other = found["a", "Baloch Liberation Army"], found["b", "BLA"], found["b", "Frontier Corps"]
    assert not long.differs(short) and not short.differs(long), "BLA shortens Baloch Liberation Army"
    assert not short.differs(other), "the same article"
    assert long.differs(other)


def test_sentences_that_miss_the_subject_give_no_answer() -> None:
    hits, table = corpus(
        ("a", "The long march reached Islamabad in January."),
        ("b", "The march of the seasons brought rain to Quetta."),
    )
    assert [a.doc_id for a in answers("Where was the long march headed?", hits, table)] == ["a"]


def cited_spans(engine: Engine, question: str) -> tuple[str, dict[str, str]]:
    """The answer text and, per cited document, the text of its citation's answer span."""
    answer = engine.ask(question)
    spans = {}
    for c in answer.citations:
        text = engine.document(c.doc_id).text
        assert text[c.start : c.end] == c.quote
        if c.answer_span is not None:
            assert c.start <= c.answer_span.start < c.answer_span.end <= c.end
            spans[c.doc_id] = text[c.answer_span.start : c.answer_span.end]
    return answer.answer, spans


def test_who_disagreement_shows_both_articles(engine: Engine) -> None:
    text, spans = cited_spans(engine, KILLED)
    assert {"000_f8c65552ac3faefe", "004_6691c9720d1e5608"} <= set(spans)
    assert "hostages" in spans["000_f8c65552ac3faefe"] and "army personnel" in spans["004_6691c9720d1e5608"]
    assert OTHER_NOTES[PERSON] in text or BOTH_NOTES[PERSON] in text
    assert "214 of the 426 hostages" in text and "214 Pakistani army personnel" in text


def test_where_disagreement_shows_both_articles(engine: Engine) -> None:
    text, spans = cited_spans(engine, HEADED)
    assert spans.get("000_f8c65552ac3faefe") == "Islamabad" and spans.get("002_f87bb952200a9f3a") == "Quetta"
    assert OTHER_NOTES[PLACE] in text or BOTH_NOTES[PLACE] in text
    assert "long march to Islamabad" in text and "provincial capital, Quetta" in text


def test_articles_that_agree_add_no_note(engine: Engine) -> None:
    question = "Who claimed to have killed 214 people?"
    vector = engine.encoder.encode([question])[0]
    hits = engine.retrieve(question, vector, engine.settings.answers.default_top_k)
    found = answers(question, hits, engine.index.sentences)
    assert len({a.doc_id for a in found}) >= 2, "precondition: two articles answer it"
    assert not any(a.differs(b) for a in found for b in found)
    text, _ = cited_spans(engine, question)
    assert not any(note in text for note in (*OTHER_NOTES.values(), *BOTH_NOTES.values()))


def test_other_questions_are_left_alone(engine: Engine) -> None:
    question = "How many Baloch fighters were killed in last year's insurgent operations?"
    draft = engine.draft(question)
    assert with_other_answers(question, draft.extract, draft.citations, list(draft.hits), engine.index) == (
        draft.extract,
        draft.citations,
    )
