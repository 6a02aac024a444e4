"""Extractive answers: the sentences of the top passages that best answer the question, each cited."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.answers.conflicts import disagreements
from qa.answers.question import answer_type, content_terms, has_type
from qa.answers.spans import span_in
from qa.base.records import Citation, Document, Hit
from qa.base.terms import terms
from qa.store.embedding import Vectors
from qa.store.index import Index
from qa.store.keyword import KeywordIndex

CANDIDATE_PASSAGES = 3
LEXICAL_WEIGHT = 0.3
RANK_PENALTY = 0.02
SECOND_MARGIN = 0.05
TYPE_BONUS = 0.25
TYPE_MISS_FACTOR = 0.7
COVERAGE_FLOOR = 0.4


@dataclass(frozen=True)
class Sentence:
    """A candidate answer sentence: where it is, which hit it came from, and how well it answers."""

    hit: Hit
    start: int
    end: int
    score: float
    similarity: float
    typed: bool


def candidates(question: str, query_vector: Vectors, hits: list[Hit], index: Index) -> list[Sentence]:
    """Sentences of the top passages scored by similarity to the question plus term overlap, best first."""
    rows: list[tuple[Hit, int]] = []
    seen: set[int] = set()
    for hit in hits[:CANDIDATE_PASSAGES]:
        for row in index.sentences.rows_in(hit.passage):
            if row not in seen:
                seen.add(row)
                rows.append((hit, row))
    if not rows:
        return []
    similarity = index.sentences.vectors_at([r for _, r in rows]) @ query_vector
    asked = set(terms(question))
    kind = answer_type(question)
    out = []
    for (hit, row), sim in zip(rows, similarity, strict=True):
        span = index.sentences.span(row)
        overlap = len(asked & set(terms(span.text))) / len(asked) if asked else 0.0
        typed = has_type(kind, span.text, question)
        score = (
            float(sim) + LEXICAL_WEIGHT * overlap + TYPE_BONUS * (typed and bool(kind)) - RANK_PENALTY * (hit.rank - 1)
        )
        out.append(Sentence(hit=hit, start=span.start, end=span.end, score=score, similarity=float(sim), typed=typed))
    return sorted(out, key=lambda s: -s.score)


def choose(ranked: list[Sentence], limit: int) -> list[Sentence]:
    """The best sentence, plus close runners-up from other passages (a second source, or a disagreement)."""
    if not ranked:
        return []
    chosen = [ranked[0]]
    for cand in ranked[1:]:
        if len(chosen) >= limit or cand.score < ranked[0].score - SECOND_MARGIN:
            break
        if all(cand.hit.rank != c.hit.rank for c in chosen):
            chosen.append(cand)
    return sorted(chosen, key=lambda s: (s.hit.rank, s.start))


def compose(
    chosen: list[Sentence], docs: dict[str, Document], question: str | None = None
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


def coverage(question: str, hits: list[Hit], keyword: KeywordIndex) -> float:
    """IDF-weighted share of the question's subject terms found in the top passages."""
    asked = content_terms(question)
    if not asked:
        return 1.0
    found = set().union(*(terms(h.passage.text + " " + h.title) for h in hits[:CANDIDATE_PASSAGES]))
    weights = keyword.idf(asked)
    return sum(w for t, w in zip(asked, weights, strict=True) if t in found) / sum(weights)


def confidence(question: str, ranked: list[Sentence], hits: list[Hit], keyword: KeywordIndex) -> float:
    """How sure the best sentence answers the question, in [0, 1]: similarity, term coverage, answer type."""
    if not ranked:
        return 0.0
    typed = any(s.typed for s in ranked[:CANDIDATE_PASSAGES])
    score = ranked[0].similarity * (COVERAGE_FLOOR + (1 - COVERAGE_FLOOR) * coverage(question, hits, keyword))
    return float(np.clip(score * (1.0 if typed else TYPE_MISS_FACTOR), 0.0, 1.0))
