"""Disagreements between articles: sentences about the same thing that give different figures or dates, or
different people, groups or places in answer to a who or where question."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from qa.answers.question import PERSON, PLACE, answer_type, content_terms
from qa.answers.spans import scored_span
from qa.base.figures import MAGNITUDES, figures
from qa.base.records import Citation, Hit, Span
from qa.base.terms import terms
from qa.store.index import Index
from qa.store.sentence_table import SentenceTable

TOP_PASSAGES = 5
MIN_SHARED = 3  # content terms two sentences must share to be about the same thing
MIN_OVERLAP = 0.3  # ... and as a share of the shorter sentence's terms
MIN_MATCH = 0.6  # share of the question's subject terms (at least two) a sentence holds to answer it
# Answer spans scoring below this hold the gold answer less than half the time (who/where, SQuAD half).
MIN_ANSWER_SCORE = 0.7
OTHER_NOTES = {PERSON: "Another article names someone else:", PLACE: "Another article gives a different place:"}
BOTH_NOTES = {PERSON: "Articles name different people:", PLACE: "Articles give different places:"}


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


class Answered(msgspec.Struct, frozen=True, kw_only=True):
    """A sentence of a retrieved passage that matches the question, and the short answer it gives.

    ``documents[doc_id].text[start:end] == quote``; ``span`` is the answer in the same offsets; ``said`` its
    stemmed content terms; ``match`` the share of the question's subject terms the sentence holds.
    """

    rank: int
    doc_id: str
    start: int
    end: int
    quote: str
    span: Span
    said: tuple[str, ...]
    match: float

    @property
    def answer(self) -> str:
        """The text of the answer span."""
        return self.quote[self.span.start - self.start : self.span.end - self.start]

    def differs(self, other: Answered) -> bool:
        """True when the two come from different articles and their answers share no content term (an acronym and
        the name it shortens, ``BLA`` and ``Baloch Liberation Army``, are the same answer)."""
        if self.doc_id == other.doc_id or set(self.said) & set(other.said):
            return False
        one, two = self.answer.split(), other.answer.split()
        return not any(
            len(a) == 1 and len(b) > 1 and a[0].isupper() and a[0] == _initials(b) for a, b in ((one, two), (two, one))
        )


def answers(question: str, hits: Sequence[Hit], sentences: SentenceTable, *, top: int = TOP_PASSAGES) -> list[Answered]:
    """The sentences of the top passages that hold most of the question's subject terms and a convincing answer
    span to it (scoring MIN_ANSWER_SCORE), best match first (then by rank)."""
    subject = set(content_terms(question))
    need = max(min(2, len(subject)), MIN_MATCH * len(subject))
    out: dict[tuple[str, int], Answered] = {}
    for hit in hits[:top]:
        for row in sentences.rows_in(hit.passage):
            sentence = sentences.span(row)
            shared = subject & set(terms(sentence.text))
            if not subject or len(shared) < need or (sentence.doc_id, sentence.start) in out:
                continue
            found = scored_span(question, sentence.text)
            said = terms(sentence.text[found[0] : found[1]]) if found else []
            if found is None or found[2] < MIN_ANSWER_SCORE or not said:
                continue
            out[sentence.doc_id, sentence.start] = Answered(
                rank=hit.rank,
                doc_id=sentence.doc_id,
                start=sentence.start,
                end=sentence.end,
                quote=sentence.text,
                span=Span(start=sentence.start + found[0], end=sentence.start + found[1]),
                said=tuple(said),
                match=len(shared) / len(subject),
            )
    return sorted(out.values(), key=lambda a: (-a.match, a.rank, a.start))


def with_other_answers(
    question: str, text: str, citations: tuple[Citation, ...], hits: Sequence[Hit], index: Index
) -> tuple[str, tuple[Citation, ...]]:
    """The answer to a who or where question plus what another top article gives instead, each with its citation.

    Among the sentences of the top passages that match the question (``answers``), one from another article whose
    answer shares no content term with the quoted sentence's is added after a note ("Another article names someone
    else:"); when the answer quotes none of them, the best two that differ are added. Agreeing articles add nothing.
    """
    kind = answer_type(question)
    if kind not in OTHER_NOTES:
        return text, citations
    found = answers(question, hits, index.sentences)
    quoted = [a for a in found if any(_overlaps(c, a) for c in citations)]
    fresh = [a for a in found if not any(_overlaps(c, a) for c in citations)]
    differing = next(((a, b) for i, a in enumerate(quoted) for b in quoted[i + 1 :] if a.differs(b)), None)
    if differing is not None:  # both versions are quoted already: say that they differ, and in what
        listed = "; ".join(f"{_said(a)} [{a.rank}]" for a in differing)
        return f"{text} {BOTH_NOTES[kind]} {listed}.", citations
    if quoted:
        other = next((a for a in fresh if all(a.differs(q) for q in quoted)), None)
        added = [] if other is None else [other]
        note = OTHER_NOTES[kind]
    else:
        pair = next(((a, b) for i, a in enumerate(fresh) for b in fresh[i + 1 :] if a.differs(b)), None)
        added = [] if pair is None else list(pair)
        note = BOTH_NOTES[kind]
    if not added:
        return text, citations
    quotes = " ".join(f"{' '.join(a.quote.split())} [{a.rank}]" for a in added)
    return f"{text} {note} {quotes}", (*citations, *(_citation(a, index) for a in added))


def _said(answered: Answered) -> str:
    """The short answer an answered sentence gives, as written."""
    return " ".join(answered.quote[answered.span.start - answered.start : answered.span.end - answered.start].split())


def _citation(answered: Answered, index: Index) -> Citation:
    """The citation of an added sentence, with its answer span."""
    doc = index.documents[answered.doc_id]
    return Citation(
        n=answered.rank,
        doc_id=doc.id,
        title=doc.title,
        start=answered.start,
        end=answered.end,
        quote=answered.quote,
        answer_span=answered.span,
    )


def _initials(words: list[str]) -> str:
    """The capitals the words start with (``Baloch Liberation Army`` -> ``BLA``)."""
    return "".join(w[0] for w in words if w[0].isupper())


def _overlaps(citation: Citation, answered: Answered) -> bool:
    """True when the citation quotes part of the answered sentence."""
    return citation.doc_id == answered.doc_id and citation.start < answered.end and answered.start < citation.end
