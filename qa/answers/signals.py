"""Signals of an answer: measurable features of each candidate sentence and of the question as a whole.

The learned decision (``qa.answers.decision``) weighs them; ``bench/train_decision.py`` computes the same ones on
labelled questions to fit its weights. Every feature is a plain number named in ``SENTENCE`` or ``QUESTION``.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

import numpy as np

from qa.answers.question import DATE, NUMBER, PERSON, PLACE, answer_type, content_terms, has_type
from qa.base.figures import figures
from qa.base.records import Hit
from qa.base.terms import OPPOSITES, terms
from qa.store.embedding import Vectors
from qa.store.index import Index

CANDIDATE_PASSAGES = 3

SENTENCE = (
    "sim",
    "sim_gap",
    "cover",
    "cover_gap",
    "cover_window",
    "missing_window",
    "opposite",
    "prev_cover",
    "prev_sim",
    "pronoun_prev",
    "bigram",
    "typed_hit",
    "typed_person",
    "typed_place",
    "typed_figure",
    "typed_miss",
    "novel",
    "length",
    "rank_inv",
    "dense",
    "fused_rel",
)
QUESTION = (
    "best",
    "best_gap",
    "best_sim",
    "best_cover",
    "best_missing",
    "best_opposite",
    "top_dense",
    "dense_gap",
    "keyword_share",
    "missing_top",
    "missing_share",
    "entity_missing",
    "figure_missing",
    "typed_any",
    "typed_cover",
    "pairs_best",
    "kind_known",
    "agree",
    "negation_gap",
    "focus_count",
)

_ABSENT = "\x00"  # a term no text holds: its IDF is the largest the index gives
_NEGATION = re.compile(r"\b(?:not|never|no|none|nor|without|n't|cannot)\b|n['’]t\b", re.I)
_PRONOUN = re.compile(
    r"^\W*(?:it|its|he|his|she|her|they|their|this|these|those|that|such|the latter|the former)\b", re.I
)
_CAPITAL = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][\w'’-]+")


@dataclass(frozen=True)
class Focus:
    """A question as the signals see it: answer kind, focus terms with their normalised IDF, names and figures."""

    text: str
    kind: str | None
    focus: tuple[str, ...]
    weight: tuple[float, ...]
    names: frozenset[str]
    figures: frozenset[str]
    negated: bool
    scale: float
    pairs: frozenset[tuple[str, str]]
    opposites: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, question: str, index: Index, *, kind_of: str | None = None) -> Focus:
        """Analyse a question against the index's keyword statistics (IDF scaled to 0..1 by the largest possible).

        ``kind_of`` is the text the answer kind is read from when not the question itself (a follow-up's own words,
        when ``question`` is the follow-up made self-contained).
        """
        focus = tuple(dict.fromkeys(content_terms(question)))
        top = max(index.keyword.idf([_ABSENT]), default=1.0) or 1.0
        weight = tuple(w / top for w in index.keyword.idf(list(focus)))
        names = frozenset(t for m in _CAPITAL.finditer(question) for t in terms(m.group(0)))
        return cls(
            text=question,
            kind=answer_type(question if kind_of is None else kind_of),
            focus=focus,
            weight=weight,
            names=names,
            figures=frozenset(figures(question)),
            negated=bool(_NEGATION.search(question)),
            scale=top,
            pairs=frozenset(_pairs(question)),
            opposites=tuple((t, o) for t in dict.fromkeys(terms(question)) for o in OPPOSITES.get(t, ())),
        )

    def cover(self, found: set[str]) -> float:
        """IDF-weighted share of the focus terms in a set of terms (1 when the question has none)."""
        total = sum(self.weight)
        if not total:
            return 1.0
        return sum(w for t, w in zip(self.focus, self.weight, strict=True) if t in found) / total

    def missing(self, found: set[str]) -> float:
        """The largest normalised IDF of a focus term not in a set of terms (0 when none is missing)."""
        return max((w for t, w in zip(self.focus, self.weight, strict=True) if t not in found), default=0.0)


@dataclass(frozen=True)
class Candidate:
    """A sentence of a top passage that may answer: where it is, the hit it came from, and its features."""

    hit: Hit
    row: int
    start: int
    end: int
    text: str
    features: tuple[float, ...]
    score: float = 0.0

    @property
    def typed(self) -> bool:
        """True when the sentence holds an answer of the kind asked for that the question does not contain."""
        return self.features[SENTENCE.index("typed_hit")] > 0

    @property
    def novelty(self) -> float:
        """Share of the sentence's terms the question does not have (low: it restates the question)."""
        return self.features[SENTENCE.index("novel")]

    @property
    def similarity(self) -> float:
        """The sentence's cosine to the question."""
        return self.features[SENTENCE.index("sim")]


def candidates(focus: Focus, query_vector: Vectors, hits: list[Hit], index: Index) -> list[Candidate]:
    """Every sentence of the top ``CANDIDATE_PASSAGES`` passages with its ``SENTENCE`` features, in hit order."""
    table = index.sentences
    groups: list[tuple[Hit, list[int]]] = []
    seen: set[int] = set()
    for hit in hits[:CANDIDATE_PASSAGES]:
        rows = [r for r in table.rows_in(hit.passage) if r not in seen]
        seen.update(rows)
        if rows:
            groups.append((hit, rows))
    every = [r for _, rows in groups for r in rows]
    if not every:
        return []
    sims = dict(zip(every, (table.vectors_at(every) @ query_vector).tolist(), strict=True))
    spans = {r: table.span(r) for r in every}
    words = {r: set(terms(spans[r].text)) for r in every}
    covers = {r: focus.cover(words[r]) for r in every}
    top_sim, top_cover = max(sims.values()), max(covers.values())
    top_fused = max(h.scores.fused for h in hits[:CANDIDATE_PASSAGES]) or 1.0
    asked_terms = set(terms(focus.text))
    out = []
    for hit, rows in groups:
        for i, row in enumerate(rows):
            prev = rows[i - 1] if i else None
            window = (
                words[row]
                | (words[prev] if prev is not None else set())
                | (words[rows[i + 1]] if i + 1 < len(rows) else set())
            )
            text = spans[row].text
            typed = has_type(focus.kind, text, focus.text) if focus.kind else False
            novel = len(words[row] - asked_terms) / len(words[row]) if words[row] else 0.0
            values = {
                "sim": sims[row],
                "sim_gap": sims[row] - top_sim,
                "cover": covers[row],
                "cover_gap": covers[row] - top_cover,
                "cover_window": focus.cover(window),
                "missing_window": focus.missing(window | set(terms(hit.title))),
                "opposite": float(any(b in window and a not in window for a, b in focus.opposites)),
                "prev_cover": covers[prev] if prev is not None else 0.0,
                "prev_sim": sims[prev] if prev is not None else 0.0,
                "pronoun_prev": float(bool(_PRONOUN.match(text))) * (covers[prev] if prev is not None else 0.0),
                "bigram": _pairs_found(focus.pairs, spans[row].text),
                "typed_hit": float(bool(focus.kind) and typed),
                "typed_person": float(focus.kind == PERSON and typed),
                "typed_place": float(focus.kind == PLACE and typed),
                "typed_figure": float(focus.kind in (NUMBER, DATE) and typed),
                "typed_miss": float(bool(focus.kind) and not typed),
                "novel": novel,
                "length": math.log1p(len(words[row])),
                "rank_inv": 1.0 / hit.rank,
                "dense": hit.scores.dense or 0.0,
                "fused_rel": hit.scores.fused / top_fused,
            }
            out.append(
                Candidate(
                    hit=hit,
                    row=row,
                    start=spans[row].start,
                    end=spans[row].end,
                    text=text,
                    features=tuple(values[name] for name in SENTENCE),
                )
            )
    return out


def question_features(focus: Focus, ranked: list[Candidate], hits: list[Hit]) -> tuple[float, ...]:
    """The ``QUESTION`` features, given the candidates already scored and sorted best first."""
    top = hits[:CANDIDATE_PASSAGES]
    found = set().union(*(terms(h.passage.text + " " + h.title) for h in top)) if top else set()
    best = ranked[0] if ranked else None
    second = ranked[1].score if len(ranked) > 1 else 0.0
    feature = dict(zip(SENTENCE, best.features, strict=True)) if best else {}
    max_keyword = focus.scale * sum(focus.weight) or 1.0
    dense_order = sorted(range(len(hits)), key=lambda i: -(hits[i].scores.dense or 0.0))
    keyword_order = sorted(range(len(hits)), key=lambda i: -(hits[i].scores.keyword or 0.0))
    figures_here = figures(" ".join(h.passage.text for h in top))
    best_negated = bool(best and _NEGATION.search(best.text))
    values = {
        "best": best.score if best else -10.0,
        "best_gap": (best.score - second) if best else 0.0,
        "best_sim": feature.get("sim", 0.0),
        "best_cover": feature.get("cover_window", 0.0),
        "best_missing": feature.get("missing_window", 1.0),
        "best_opposite": feature.get("opposite", 0.0),
        "top_dense": (hits[0].scores.dense or 0.0) if hits else 0.0,
        "dense_gap": ((hits[0].scores.dense or 0.0) - (hits[1].scores.dense or 0.0)) if len(hits) > 1 else 0.0,
        "keyword_share": min(1.0, _keyword(hits) / max_keyword),
        "missing_top": focus.missing(found),
        "missing_share": 1.0 - focus.cover(found),
        "entity_missing": len(focus.names - found) / len(focus.names) if focus.names else 0.0,
        "figure_missing": float(bool(focus.figures - figures_here)),
        "typed_any": float(any(c.typed for c in ranked[:5])),
        "typed_cover": max((_at(c, "cover_window") for c in ranked if c.typed or focus.kind is None), default=0.0),
        "pairs_best": max((_at(c, "bigram") for c in ranked), default=0.0),
        "kind_known": float(focus.kind is not None),
        "agree": float(bool(hits) and dense_order[:1] == keyword_order[:1]),
        "negation_gap": float(focus.negated and not best_negated),
        "focus_count": math.log1p(len(focus.focus)),
    }
    return tuple(values[name] for name in QUESTION)


def _at(candidate: Candidate, name: str) -> float:
    """One named sentence feature of a candidate."""
    return candidate.features[SENTENCE.index(name)]


def _keyword(hits: list[Hit]) -> float:
    """The best BM25 score among the hits (0 when none matched a query term)."""
    return max((h.scores.keyword or 0.0 for h in hits), default=0.0)


def _pairs(text: str) -> set[tuple[str, str]]:
    """Adjacent pairs of terms (stopwords skipped): the phrases of a text."""
    found = terms(text)
    return set(itertools.pairwise(found))


def _pairs_found(pairs: frozenset[tuple[str, str]], text: str) -> float:
    """Share of the question's term pairs that a sentence also has (0 when the question has none)."""
    return len(pairs & _pairs(text)) / len(pairs) if pairs else 0.0


def as_array(rows: list[tuple[float, ...]]) -> np.ndarray:
    """Feature rows as a float matrix."""
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
