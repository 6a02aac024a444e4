"""Extractive answers: the sentences of the top passages that best answer the question, each cited."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from qa.answers.conflicts import disagreements, with_other_answers
from qa.answers.decision import Decision, probability
from qa.answers.signals import CANDIDATE_PASSAGES, SENTENCE, Candidate, Focus, as_array, candidates, question_features
from qa.answers.spans import span_in
from qa.base.records import Citation, Document, Hit
from qa.store.embedding import Vectors
from qa.store.index import Index

# A runner-up from another passage is quoted too when its sentence score is within SECOND_MARGIN log-odds of the
# best and at least SECOND_FLOOR (a second source, or a disagreement). Chosen by cross-validated "answer holds gold"
# on SQuAD (bench/README.md, "Answers people can trust"): 0.704 at (1, 0), 0.724 at (2, -1), 1.12 sentences each.
SECOND_MARGIN = 2.0
NEIGHBOUR_REACH = 2
RESTATES = 0.5
COVER = SENTENCE.index("cover")
SECOND_FLOOR = -1.0


def ranked(focus: Focus, query_vector: Vectors, hits: list[Hit], index: Index, decision: Decision) -> list[Candidate]:
    """The sentences of the top passages scored by the learned sentence model, best first."""
    found = candidates(focus, query_vector, hits, index)
    if not found:
        return []
    scores = decision.sentence.logits(as_array([c.features for c in found]))
    return sorted(
        (replace(c, score=float(v)) for c, v in zip(found, scores, strict=True)), key=lambda c: (-c.score, c.row)
    )


def answering(ranked: list[Candidate], focus: Focus, reach: int = NEIGHBOUR_REACH) -> list[Candidate]:
    """The ranking with the best sentence's neighbour first when only the neighbour holds the kind of answer asked for.

    A sentence that restates the question ("a long march to Islamabad.") often sits just before the one that answers
    it ("The women who led the movement, especially Mahrang Baloch, ..."): when the best sentence mostly repeats the
    question (at most ``RESTATES`` of its terms are new) and holds no answer of the asked kind (a person, place,
    number, date), and one of the ``reach`` sentences on either side of it in the same passage does, the one of them
    sharing most of the question's focus (then the nearest, then the later) takes its place, with its score, so
    runners-up compare the same.
    """
    if not ranked or focus.kind is None or ranked[0].typed or ranked[0].novelty > RESTATES:
        return ranked
    best = ranked[0]
    same = sorted((c for c in ranked if c.hit.rank == best.hit.rank), key=lambda c: c.start)
    at = same.index(best)
    near = [c for c in same[max(0, at - reach) : at + reach + 1] if c.typed]
    if not near:
        return ranked
    chosen = max(near, key=lambda c: (c.features[COVER], -abs(same.index(c) - at), c.start > best.start))
    return [replace(chosen, score=best.score), *(c for c in ranked if c is not chosen)]


def confidence(focus: Focus, ranked: list[Candidate], hits: list[Hit], decision: Decision) -> float:
    """The learned probability that the archive answers the question, from the signals of the question."""
    if not hits:
        return 0.0
    row = as_array([question_features(focus, ranked, hits)])
    return float(probability(decision.answer.logits(row))[0])


def choose(ranked: list[Candidate], limit: int) -> list[Candidate]:
    """The best sentence, plus close runners-up from other passages (a second source, or a disagreement)."""
    if not ranked:
        return []
    chosen = [ranked[0]]
    for cand in ranked[1:]:
        if len(chosen) >= limit or cand.score < ranked[0].score - SECOND_MARGIN:
            break
        if cand.score >= SECOND_FLOOR and all(cand.hit.rank != c.hit.rank for c in chosen):
            chosen.append(cand)
    return sorted(chosen, key=lambda s: (s.hit.rank, s.start))


def extract(
    question: str, ranked: list[Candidate], hits: list[Hit], index: Index, limit: int
) -> tuple[str, tuple[Citation, ...]]:
    """The extractive answer: the chosen sentences quoted with their spans, and any disagreement between articles."""
    text, citations = compose(choose(ranked, limit), index.documents, question)
    text, citations = with_disagreement(text, citations, hits, index, question)
    return with_other_answers(question, text, citations, hits, index)


def compose(
    chosen: list[Candidate], docs: Mapping[str, Document], question: str | None = None
) -> tuple[str, tuple[Citation, ...]]:
    """Answer text with a ``[n]`` marker after each quoted sentence, and the citations behind the markers.

    Given the ``question``, each citation carries the short answer inside its quote when one is found.
    """
    parts, citations = [], []
    for sent in chosen:
        doc = docs[sent.hit.passage.doc_id]
        quote = doc.text[sent.start : sent.end]
        parts.append(f"{' '.join(quote.split())} [{sent.hit.rank}]")
        found = None if question is None else span_in(question, doc.text, sent.start, sent.end)
        citations.append(
            Citation(
                n=sent.hit.rank,
                doc_id=doc.id,
                title=doc.title,
                start=sent.start,
                end=sent.end,
                quote=quote,
                answer_span=found,
            )
        )
    return " ".join(parts), tuple(citations)


def with_disagreement(
    text: str, citations: tuple[Citation, ...], hits: list[Hit], index: Index, question: str | None = None
) -> tuple[str, tuple[Citation, ...]]:
    """The answer plus the sentence of another article that gives a different figure or date for what it quotes.

    Only a disagreement one side of which is a quoted sentence counts, so the answer never silently picks one
    version; when both sides are quoted already, nothing is added. Given the ``question``, the added citation
    carries its answer span.
    """
    for pair in disagreements(hits[:CANDIDATE_PASSAGES], index.sentences):
        for quoted, other in ((pair.first, pair.second), (pair.second, pair.first)):
            quotes_it = any(_overlaps(c, quoted.doc_id, quoted.start, quoted.end) for c in citations)
            if not quotes_it or any(c.doc_id == other.doc_id and c.start == other.start for c in citations):
                continue
            doc = index.documents[other.doc_id]
            found = None if question is None else span_in(question, doc.text, other.start, other.end)
            added = Citation(
                n=other.rank,
                doc_id=doc.id,
                title=doc.title,
                start=other.start,
                end=other.end,
                quote=other.quote,
                answer_span=found,
            )
            note = f"Another article gives different figures: {' '.join(other.quote.split())} [{other.rank}]"
            return f"{text} {note}", (*citations, added)
    return text, citations


def _overlaps(citation: Citation, doc_id: str, start: int, end: int) -> bool:
    """True when the citation quotes part of ``doc_id[start:end]``."""
    return citation.doc_id == doc_id and citation.start < end and start < citation.end
