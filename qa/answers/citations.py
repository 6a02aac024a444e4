"""Checking a generated answer's ``[n]`` markers: do they point at a passage, and does that passage say it?"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import numpy as np

from qa.base.figures import figures, names, words
from qa.base.records import Citation, Hit
from qa.base.sentences import split_sentences
from qa.base.terms import terms
from qa.models.interface import Prompt
from qa.store.embedding import Encoder
from qa.store.sentence_table import SentenceTable

# Support thresholds, measured with bench/citation_support.py (243 claim/passage pairs from the dev questions over
# the seed passages; bench/README.md, "Citation support"). Lexical: share of the claim's content terms found in
# the best passage sentence; 0.35-0.40 is the best-F1 plateau (P 0.986, R 0.890, F1 0.936). With an encoder:
# the mean of that share and the cosine to the best sentence; 0.45-0.50 is its plateau (P 0.986, R 0.866, F1
# 0.922). Both with the figure and name checks, without which precision falls to 0.65-0.67.
LEXICAL_THRESHOLD = 0.40
COMBINED_THRESHOLD = 0.45
MIN_CLAUSE_TERMS = 3  # a clause shorter than this is judged with its whole sentence

_MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*(?:,|;|-|–|and)\s*\d{1,3})*)\s*\]")
_MARKER_ONLY = re.compile(r"^[\s\[\]\d,;–\-.!?)\"'”’]*$")
_LEADING_MARKERS = re.compile(r"(?:\s*" + _MARKER.pattern + r")+[.,;]?")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?)])")


class CheckedCitation(Citation, frozen=True, kw_only=True):
    """One ``[n]`` after a claim: the passage's best supporting sentence (``doc.text[start:end] == quote``), the
    support ``score`` behind ``supported``, and the ``claim`` it was judged for."""

    score: float
    claim: str


class Checked(msgspec.Struct, frozen=True, kw_only=True):
    """An answer after checking: invalid markers removed, each citation judged.

    ``grounded`` is true when there is at least one citation, every cited claim is supported by at least one of
    the passages it cites, and no marker pointed at a passage that does not exist. Sentences without any marker
    (``uncited``, e.g. linking sentences or the fixed "cannot answer" reply) do not change it.
    """

    text: str
    citations: tuple[CheckedCitation, ...]
    invalid: tuple[int, ...]
    uncited: int
    grounded: bool


@dataclass(frozen=True)
class Support:
    """How well one passage supports one claim: its best sentence, and the scores behind the verdict."""

    start: int
    end: int
    lexical: float
    cosine: float | None
    figures_ok: bool
    names_ok: bool

    def score(self) -> float:
        """The support score compared with the threshold."""
        return self.lexical if self.cosine is None else (self.lexical + self.cosine) / 2

    def supported(self, threshold: float | None = None) -> bool:
        """True when the score reaches the threshold and the claim's figures, months and names are in the passage."""
        if threshold is None:
            threshold = LEXICAL_THRESHOLD if self.cosine is None else COMBINED_THRESHOLD
        return self.figures_ok and self.names_ok and self.score() >= threshold


def markers(text: str) -> list[tuple[int, int, list[int]]]:
    """Every marker in ``text`` as (start, end, numbers): ``[1]``, ``[1, 3]``, ``[2-4]``; ``[1][2]`` is two."""
    out = []
    for match in _MARKER.finditer(text):
        numbers: list[int] = []
        for part in re.split(r"\s*(?:,|;|and)\s*", match.group(1)):
            bounds = [int(x) for x in re.split(r"\s*[-–]\s*", part) if x]
            if len(bounds) == 2 and 0 < bounds[1] - bounds[0] <= 20:
                numbers.extend(range(bounds[0], bounds[1] + 1))
            else:
                numbers.extend(bounds)
        out.append((match.start(), match.end(), list(dict.fromkeys(numbers))))
    return out


def support(
    claims: Sequence[str], hit: Hit, sentences: SentenceTable, encoder: Encoder | None, context: str = ""
) -> list[Support]:
    """For each claim, the passage sentence that supports it best, and whether its figures and names are there.

    The passage's sentences and their vectors come from the index's sentence table (only the claims are embedded);
    a passage without a sentence of ``MIN_WORDS`` words there is judged whole. Names may also come from
    ``context`` (other passages of the same article: a passage says "the victim" where an earlier one named him);
    figures must be in the passage itself.
    """
    passage = hit.passage
    rows = sentences.rows_in(passage)
    spans = [sentences.span(row) for row in rows] or [passage]
    sentence_terms = [set(terms(span.text)) for span in spans]
    available = figures(passage.text + " " + hit.title)
    known = words(" ".join((passage.text, hit.title, context)))
    cosines = None
    if encoder is not None and claims:
        if rows:
            cosines = encoder.encode(list(claims)) @ sentences.vectors_at(rows).T
        else:
            vectors = encoder.encode([*claims, passage.text])
            cosines = vectors[: len(claims)] @ vectors[len(claims) :].T
    out = []
    for i, claim in enumerate(claims):
        wanted = set(terms(claim))
        lexical = np.array([len(wanted & st) / len(wanted) if wanted else 0.0 for st in sentence_terms])
        combined = lexical if cosines is None else (lexical + cosines[i]) / 2
        best = int(np.argmax(combined))
        out.append(
            Support(
                start=spans[best].start,
                end=spans[best].end,
                lexical=float(lexical[best]),
                cosine=None if cosines is None else float(cosines[i][best]),
                figures_ok=figures(claim) <= available,
                names_ok=names(claim) <= known,
            )
        )
    return out


def check(
    answer_text: str,
    prompt: Prompt,
    sentences: SentenceTable,
    encoder: Encoder | None = None,
    *,
    threshold: float | None = None,
) -> Checked:
    """Remove markers that point at no passage, and judge every remaining citation against its passage.

    ``sentences`` is the sentence table of the index the prompt's passages come from; with ``encoder`` (the model
    that embedded it) support also weighs the cosine between claim and sentence.

    A claim is the text between the previous marker group (or the sentence start) and its own group; a clause of
    fewer than ``MIN_CLAUSE_TERMS`` content terms is judged with its whole sentence. ``threshold`` overrides the
    measured one (``LEXICAL_THRESHOLD`` without an encoder, ``COMBINED_THRESHOLD`` with one).
    """
    k = len(prompt.passages)
    invalid = sorted({n for _, _, ns in markers(answer_text) for n in ns if not 1 <= n <= k})
    text = _strip_invalid(answer_text, k)
    groups: list[tuple[str, list[int]]] = []  # (claim, passage numbers) per marker group
    uncited = 0
    for start, end in _sentences(text):
        found = _groups(text, start, end)
        if not found:
            uncited += 1
        groups.extend(found)
    by_passage: dict[int, list[int]] = {}
    for g, (_, ns) in enumerate(groups):
        for n in ns:
            by_passage.setdefault(n, []).append(g)
    verdicts: dict[tuple[int, int], Support] = {}
    for n, members in by_passage.items():
        hit = prompt.passages[n - 1]
        context = " ".join(h.passage.text for h in prompt.passages if h.passage.doc_id == hit.passage.doc_id)
        claims = [groups[g][0] for g in members]
        for g, found_support in zip(members, support(claims, hit, sentences, encoder, context), strict=True):
            verdicts[(g, n)] = found_support
    citations = []
    for g, (claim, ns) in enumerate(groups):
        for n in ns:
            s = verdicts[(g, n)]
            hit = prompt.passages[n - 1]
            quote = hit.passage.text[s.start - hit.passage.start : s.end - hit.passage.start]
            citations.append(
                CheckedCitation(
                    n=n,
                    doc_id=hit.passage.doc_id,
                    title=hit.title,
                    start=s.start,
                    end=s.end,
                    quote=quote,
                    supported=s.supported(threshold),
                    score=round(s.score(), 4),
                    claim=claim,
                )
            )
    every_claim = all(any(verdicts[(g, n)].supported(threshold) for n in ns) for g, (_, ns) in enumerate(groups))
    grounded = bool(citations) and every_claim and not invalid
    return Checked(text=text, citations=tuple(citations), invalid=tuple(invalid), uncited=uncited, grounded=grounded)


def _strip_invalid(text: str, k: int) -> str:
    """The text with numbers outside 1..k taken out of markers (a marker left empty goes), whitespace tidied."""

    def keep(match: re.Match[str]) -> str:
        numbers = markers(match.group(0))[0][2]
        valid = [n for n in numbers if 1 <= n <= k]
        if len(valid) == len(numbers):
            return match.group(0)
        return "".join(f"[{n}]" for n in valid)

    cleaned = _MARKER.sub(keep, text)
    cleaned = _SPACE_BEFORE_PUNCT.sub(r"\1", re.sub(r"[ \t]{2,}", " ", cleaned))
    return "\n".join(line.strip() for line in cleaned.strip().splitlines())


def _sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of an answer; markers that open a sentence (``rally. [1] A curfew``) close the one before."""
    spans: list[tuple[int, int]] = []
    for start, end in split_sentences(text):
        lead = _LEADING_MARKERS.match(text, start, end)
        if spans and lead is not None and lead.end() > start:
            spans[-1] = (spans[-1][0], lead.end())
            start = lead.end()
            while start < end and text[start].isspace():
                start += 1
        if spans and _MARKER_ONLY.match(text[start:end]):
            spans[-1] = (spans[-1][0], end)
        elif start < end:
            spans.append((start, end))
    return spans


def _groups(text: str, start: int, end: int) -> list[tuple[str, list[int]]]:
    """The marker groups of one sentence with the clause each one closes (markers only whitespace apart group)."""
    found = [m for m in markers(text[start:end]) if m[2]]
    merged: list[tuple[int, int, list[int]]] = []
    for m_start, m_end, ns in found:
        if merged and not text[start + merged[-1][1] : start + m_start].strip():
            merged[-1] = (merged[-1][0], m_end, merged[-1][2] + [n for n in ns if n not in merged[-1][2]])
        else:
            merged.append((m_start, m_end, ns))
    sentence = _MARKER.sub(" ", text[start:end])
    out = []
    previous = 0
    for m_start, m_end, ns in merged:
        clause = _MARKER.sub(" ", text[start + previous : start + m_start])
        if len(terms(clause)) < MIN_CLAUSE_TERMS:
            clause = sentence
        out.append((" ".join(clause.split()), ns))
        previous = m_end
    return out
