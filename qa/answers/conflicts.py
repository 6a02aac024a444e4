"""Disagreements between articles: sentences about the same thing that give different figures or dates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from qa.base.figures import MAGNITUDES, figures
from qa.base.records import Document, Hit
from qa.base.sentences import split_sentences
from qa.base.terms import terms

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


def disagreements(
    hits: Sequence[Hit], documents: Mapping[str, Document], *, top: int = TOP_PASSAGES
) -> list[Disagreement]:
    """Sentence pairs from different articles among the top passages that share a subject but not their figures.

    Each side must state a figure the other does not (``12 killed`` / ``15 killed``; ``March 2019`` / ``April
    2019``); a sentence that only adds a figure to the other's is no disagreement. At most one pair per two
    passages, the one sharing most terms; best first.
    """
    statements = [s for hit in hits[:top] for s in _statements(hit, documents)]
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


def _statements(hit: Hit, documents: Mapping[str, Document]) -> list[tuple[Statement, set[str]]]:
    """The sentences of a passage that state a figure, with their content terms (figures left out)."""
    doc = documents.get(hit.passage.doc_id)
    text = doc.text if doc is not None else None
    out = []
    for start, end in split_sentences(hit.passage.text):
        quote = hit.passage.text[start:end]
        found = figures(quote) - MAGNITUDES
        if not found:
            continue
        words = {t for t in terms(quote) if not any(ch.isdigit() for ch in t)} - set(terms(" ".join(found)))
        absolute = hit.passage.start + start
        if text is not None and text[absolute : absolute + len(quote)] != quote:
            continue  # the passage no longer matches its document: quote nothing rather than a wrong slice
        statement = Statement(
            rank=hit.rank,
            doc_id=hit.passage.doc_id,
            start=absolute,
            end=absolute + len(quote),
            quote=quote,
            figures=tuple(sorted(found)),
        )
        out.append((statement, words))
    return out
