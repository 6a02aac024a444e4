"""Disagreements: different figures or dates for the same thing in different articles."""

from __future__ import annotations

from qa.answers.conflicts import disagreements
from qa.base.records import Document, Hit, Passage, Scores


def corpus(*texts: tuple[str, str]) -> tuple[list[Hit], dict[str, Document]]:
    """Hits (rank order) over documents whose passage is the text after a lead line."""
    hits, docs = [], {}
    for rank, (doc_id, text) in enumerate(texts, 1):
        doc = docs.get(doc_id) or Document(id=doc_id, title=doc_id, text="Lead line.\n\n")
        start = len(doc.text)
        doc = Document(id=doc_id, title=doc_id, text=doc.text + text + "\n\n")
        docs[doc_id] = doc
        passage = Passage(doc_id=doc_id, start=start, end=start + len(text), text=text)
        hits.append(Hit(rank=rank, passage=passage, title=doc_id, scores=Scores(dense=None, keyword=None, fused=1.0)))
    return hits, docs


def test_different_tolls_for_the_same_attack() -> None:
    hits, docs = corpus(
        ("a", "The attack on the convoy near Quetta killed 12 people, officials said. The road reopened."),
        ("b", "Unrelated: the festival drew 300 visitors."),
        ("c", "Hospital staff said the attack on the convoy near Quetta killed 15 people."),
    )
    (found,) = disagreements(hits, docs)
    assert (found.first.rank, found.second.rank) == (1, 3)
    assert found.first.figures == ("12",) and found.second.figures == ("15",)
    assert {"attack", "convoy", "quetta", "kill"} <= set(found.subject)
    for side in (found.first, found.second):
        assert docs[side.doc_id].text[side.start : side.end] == side.quote


def test_different_dates() -> None:
    hits, docs = corpus(
        ("a", "The BYC held its rally in Dalbandin on 3 March 2025."),
        ("b", "The BYC rally in Dalbandin took place in April 2025."),
    )
    (found,) = disagreements(hits, docs)
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
    for hits, docs in (same, added, one_article, other, no_figures):
        assert disagreements(hits, docs) == []


def test_only_the_top_passages_are_compared() -> None:
    hits, docs = corpus(
        ("a", "The attack on the convoy killed 12 people."),
        *[(f"x{i}", "A filler passage about the weather.") for i in range(5)],
        ("b", "The attack on the convoy killed 15 people."),
    )
    assert disagreements(hits, docs) == []
    assert len(disagreements(hits, docs, top=7)) == 1
