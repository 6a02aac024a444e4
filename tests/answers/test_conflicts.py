"""Disagreements: different figures or dates for the same thing in different articles."""

from __future__ import annotations

import pytest
from conftest import FakeEncoder

import qa.base.sentences
from qa.answers.conflicts import disagreements
from qa.base.records import Document, Hit, Passage, Scores
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
