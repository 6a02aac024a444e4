"""Disagreements between articles: sentences about the same thing that give different figures or dates."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from qa.base.figures import MAGNITUDES, figures
from qa.base.records import Hit
from qa.base.terms import terms
from qa.store.sentence_table import SentenceTable

TOP_PASSAGES = 5
MIN_SHARED = 3  # content terms two sentences must share to be about the same thing
MIN_OVERLAP = 0.3  # ... and as a share of the shorter sentence's terms


class Statement(msgspec.Struct, frozen=True, kw_only=True):
    """A sentence of a retrieved passage: ``documents[doc_id].text[start:end] == quote``."""

    rank: int
    doc_id: str
    start: int
    end: int
    quote: str
    figures: tuple[str, ...]


class Disagreement(msgspec.Struct, frozen=True, kw_only=True):
    """Two articles stating different figures, dates or months for what looks like the same subject."""

    subject: tuple[str, ...]  # the stemmed content terms both sentences share
    first: Statement
    second: Statement


def disagreements(hits: Sequence[Hit], sentences: SentenceTable, *, top: int = TOP_PASSAGES) -> list[Disagreement]:
    """Sentence pairs from different articles among the top passages that share a subject but not their figures.

    Each side must state a figure the other does not (``12 killed`` / ``15 killed``; ``March 2019`` / ``April
    2019``); a sentence that only adds a figure to the other's is no disagreement. At most one pair per two
    passages, the one sharing most terms; best first. The sentences are the index's (``sentences``): one of fewer
    than ``MIN_WORDS`` words is not there, and could share ``MIN_SHARED`` terms besides its figure only rarely.
    """
    statements = [s for hit in hits[:top] for s in _statements(hit, sentences)]
    best: dict[tuple[int, int], tuple[int, Disagreement]] = {}
    for i, (a, a_terms) in enumerate(statements):
        for b, b_terms in statements[i + 1 :]:
            if a.doc_id == b.doc_id:
                continue
            shared = a_terms & b_terms
            if len(shared) < MIN_SHARED or len(shared) < MIN_OVERLAP * min(len(a_terms), len(b_terms)):
                continue
            fa, fb = set(a.figures), set(b.figures)
            if not (fa - fb) or not (fb - fa):
                continue
            key = (a.rank, b.rank)
            if key not in best or len(shared) > best[key][0]:
                best[key] = (len(shared), Disagreement(subject=tuple(sorted(shared)), first=a, second=b))
    return [d for _, d in sorted(best.values(), key=lambda x: (-x[0], x[1].first.rank, x[1].second.rank))]


def _statements(hit: Hit, sentences: SentenceTable) -> list[tuple[Statement, set[str]]]:
    """The sentences of a passage that state a figure, with their content terms (figures left out)."""
    out = []
    for row in sentences.rows_in(hit.passage):
        span = sentences.span(row)
        found = figures(span.text) - MAGNITUDES
        if not found:
            continue
        words = {t for t in terms(span.text) if not any(ch.isdigit() for ch in t)} - set(terms(" ".join(found)))
        statement = Statement(
            rank=hit.rank,
            doc_id=span.doc_id,
            start=span.start,
            end=span.end,
            quote=span.text,
            figures=tuple(sorted(found)),
        )
        out.append((statement, words))
    return out
