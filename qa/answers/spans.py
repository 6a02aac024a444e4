"""Answer spans: the short answer to a question inside a sentence (a name, date, amount, place or noun group).

Candidates of the kind asked for (``question.answer_type``) are read off the sentence by ``phrases``, trimmed of
what the question already says, and scored by how close they sit to the words the sentence shares with the
question, on the side the question's form points to (``Who founded X?``: before ``founded``; ``Who did X
marry?``: after ``marry``). Weights were tuned on the SQuAD 2.0 half in ../shared/bench (bench/answer_spans.py).
"""

from __future__ import annotations

import re

from qa.answers.phrases import (
    CONNECTORS,
    DETERMINERS,
    Phrase,
    Word,
    amounts,
    dates,
    function_word,
    groups,
    names,
    nominal,
    opening,
    words,
)
from qa.answers.question import DATE, NUMBER, PERSON, PLACE, Asked
from qa.base.figures import figures
from qa.base.records import Span
from qa.base.terms import terms

LOCATIVE = frozenset("in at to from near into onto across throughout outside inside around toward towards via".split())
GAP_WEIGHT = 0.05  # per content word or clause mark between a candidate and the nearest question word
MAX_GAP = 12
NEXT_GAP = 0.2  # weight of the gap to the second nearest question word
SIDE_WEIGHT = 0.1  # for a candidate on the side of the question words the question's form points to
NOUN_WEIGHT = 0.5  # prior of a noun group against a name (1.0) where a name is expected
DESCRIBED_WEIGHT = 0.7  # prior of a name with a common noun ("Turkish forces")
PLACE_BONUS = 0.2  # for a phrase after in, at, to, from... when a place is asked for
ORIGIN_PENALTY = 0.1  # for a place after "from" when the question does not ask where from
AGENT_BONUS = 0.2  # for a name after "by" when a person is asked for
LIST_BONUS = 0.1  # for a list of names when the question asks for several ("Who were...", "which countries")
STRANDED_BONUS = 0.2  # for a phrase after the preposition the question ends with ("Who did X flee with?")
COUNT_BONUS = 0.3  # for an amount followed by what "how many X" counts
RANGE_BONUS = 0.1  # for two dates joined as a range ("from 1562 to 1598") over either one
UNIT_BONUS = 0.1  # for an amount with the noun it counts ("45 minutes") over the bare number
NUMBERED_BONUS = 0.3  # for people counted by the question's number ("Who were the 214...": "214 soldiers")
HEAD_BONUS = 0.2  # for a phrase next to, or holding, the noun of "what X" ("a tradition of singing")
NAMING_BONUS = 0.3  # for a phrase after "called", "known as"... when the question asks what something is called
OPENING_PENALTY = 0.3  # for a one-word name that opens the sentence ("Soon", "Healers")
FRAGMENT_PENALTY = 0.2  # for what is left of a name cut by a question word ("Town" of "Cape Town")
LENGTH_PENALTY = 0.02  # per word, so that of two equally placed candidates the shorter wins
MIN_SCORE = 0.0  # below this a candidate of an open question is not convincing
_CLAUSE_Q = re.compile(r"\s*(?:\w+\s+)?(?:why|how)\b", re.I)
_TEMPORAL = frozenset("after before during until since following by".split())
_NAMING = frozenset("called named known as termed dubbed titled".split())


def span_in(question: str, text: str, start: int, end: int) -> Span | None:
    """The answer span inside ``text[start:end]`` (a cited sentence), in the offsets of ``text``, or None."""
    found = answer_span(question, text[start:end])
    return None if found is None else Span(start=start + found[0], end=start + found[1])


def answer_span(question: str, text: str) -> tuple[int, int] | None:
    """Offsets in ``text`` of the short answer to ``question``, or None when no phrase answers it convincingly."""
    found = scored_span(question, text)
    return None if found is None else (found[0], found[1])


def scored_span(question: str, text: str) -> tuple[int, int, float] | None:
    """``answer_span`` with its score: about 1 for a name or typed phrase next to the question's words, less for a
    noun group or a phrase far from them."""
    asked = Asked.of(question)
    if asked.kind is None and _CLAUSE_Q.match(question):
        return None  # a reason or a manner is a clause, not a phrase
    ws = words(text)
    anchors = [i for i, w in enumerate(ws) if _asked(w, asked.terms)]
    marks = _marks(ws)
    best: tuple[float, int, int] | None = None
    for phrase, prior in _phrases(asked, ws, text):
        span = _trim(ws, phrase, asked)
        if span is None:
            continue
        first, last = span
        score = prior + _placement(ws, marks, first, last, anchors, asked, listed=phrase.kind == "names")
        if phrase.kind == "described" and all(w.capital or w.lower in CONNECTORS for w in ws[first : last + 1]):
            score += 1.0 - DESCRIBED_WEIGHT  # the common noun was the question's: a plain name is left
        if phrase.kind.startswith(("name", "described")) and _cut(ws, phrase, first, last):
            score -= FRAGMENT_PENALTY
        if best is None or score > best[0]:
            best = (score, first, last)
    if best is None or (asked.kind is None and best[0] < MIN_SCORE):
        return None
    return ws[best[1]].start, _end(ws[best[2]]), best[0]


def _placement(
    ws: list[Word], marks: list[int], first: int, last: int, anchors: list[int], asked: Asked, *, listed: bool
) -> float:
    """How well placed a candidate is: near the question's words, on the expected side, after the right preposition.

    A list of names is as long as one of them; a question word kept inside a name (``Balochistan University``) is
    next to it."""
    score = -GAP_WEIGHT * _gap(marks, first, last, anchors) - LENGTH_PENALTY * (0 if listed else last - first)
    score += SIDE_WEIGHT * asked.side * _position(first, last, anchors)
    if asked.stranded and _after(ws, first, {asked.stranded}):
        score += STRANDED_BONUS
    if asked.naming and _after(ws, first, _NAMING):
        score += NAMING_BONUS
    if asked.head and _beside(ws, first, last, asked.head):
        score += HEAD_BONUS
    return score


def _beside(ws: list[Word], first: int, last: int, head: frozenset[str]) -> bool:
    """True when the phrase holds the head noun, or only function words stand between them (``tradition of X``)."""
    near = range(max(0, first - 3), min(len(ws), last + 4))
    for i in near:
        if set(terms(ws[i].text)) & head:
            lo, hi = (i + 1, first) if i < first else (last + 1, i)
            if (i <= last and i >= first) or all(function_word(w) or w.lower in CONNECTORS for w in ws[lo:hi]):
                return True
    return False


def _phrases(asked: Asked, ws: list[Word], text: str) -> list[tuple[Phrase, float]]:
    """The phrases that could answer a question of this kind, each with its prior weight."""
    if asked.kind == DATE:
        found = dates(ws, text)
        return [(p, 1.0 + RANGE_BONUS * _ranged(ws, p)) for p in found] or [
            (p, NOUN_WEIGHT) for p in groups(ws) if _after(ws, p.first, _TEMPORAL)
        ]
    if asked.kind == NUMBER:
        taken = dates(ws, text)
        return [
            (p, 1.0 + _counts(ws, p, asked) + UNIT_BONUS * (p.kind == "counted") + RANGE_BONUS * _ranged(ws, p))
            for p in amounts(ws, text)
            if not any(_overlap(p, d) for d in taken)
        ]
    taken = dates(ws, text)  # "in January" is no place, "May" no person
    named = [(p, _name_prior(ws, p, asked)) for p in names(ws) if not any(_overlap(p, d) for d in taken)]
    nouns = [(p, NOUN_WEIGHT) for p in groups(ws) if any(w.text.isalpha() for w in ws[p.first : p.last + 1])]
    if asked.kind == PERSON:
        people = [
            (p, w + AGENT_BONUS * _after(ws, p.first, {"by"}))
            for p, w in named
            if not _located(ws, p, LOCATIVE, apposition=False)
        ]
        return [(p, w + NUMBERED_BONUS * _numbered(ws, p, asked)) for p, w in [*people, *nouns]]
    if asked.kind == PLACE:
        places = LOCATIVE if "from" in asked.spelled else LOCATIVE - {"from"}  # "from X to Y": Y, unless asked "from"
        return [
            (
                p,
                w
                + PLACE_BONUS * _located(ws, p, places)
                - ORIGIN_PENALTY * (places != LOCATIVE and _after(ws, p.first, {"from"})),
            )
            for p, w in [*named, *nouns]
        ]
    if asked.named:  # "what country", "which treaty": most often a name
        return [*named, *nouns]
    return [(p, w) for p, w in named] + [(p, 1.0) for p, _ in nouns]


def _name_prior(ws: list[Word], phrase: Phrase, asked: Asked) -> float:
    """Prior of a name: a list only when several are asked for, less for a described or sentence-opening name."""
    prior = DESCRIBED_WEIGHT if phrase.kind == "described" else 1.0
    if phrase.kind == "names":
        prior += LIST_BONUS if asked.plural else -LIST_BONUS
    return prior - OPENING_PENALTY * (phrase.first == phrase.last and opening(ws, phrase.first))


def _counts(ws: list[Word], phrase: Phrase, asked: Asked) -> float:
    """COUNT_BONUS when the amount counts what "how many X" asks about (X follows it), else 0."""
    after = [w for w in ws[phrase.last + 1 : phrase.last + 4] if w.alpha][:2]
    return COUNT_BONUS if asked.counted and any(set(terms(w.text)) & asked.counted for w in after) else 0.0


def _numbered(ws: list[Word], phrase: Phrase, asked: Asked) -> bool:
    """True when a number the question gives counts the phrase ("the 214 people" -> "214 of the 426 hostages")."""
    i, seen = phrase.first - 1, 0
    while (
        i >= 0
        and seen < 5
        and (not ws[i].alpha or function_word(ws[i]) or ws[i].text[0].isdigit() or ws[i].lower in DETERMINERS)
    ):
        if figures(ws[i].text) & asked.figures:
            return True
        i, seen = i - 1, seen + 1
    return False


def _ranged(ws: list[Word], phrase: Phrase) -> bool:
    """True when the phrase is a range of two dates or amounts (``from 1562 to 1598``)."""
    return any(w.lower in ("to", "and", "until", "–", "-") for w in ws[phrase.first + 1 : phrase.last])


def _overlap(a: Phrase, b: Phrase) -> bool:
    """True when two phrases share a word."""
    return a.first <= b.last and b.first <= a.last


def _after(ws: list[Word], first: int, before: frozenset[str] | set[str]) -> bool:
    """True when word ``first`` follows one of the words ``before`` (``in``, ``by``...), determiners allowed between."""
    i = first - 1
    while i >= 0 and ws[i].lower in DETERMINERS:
        i -= 1
    return i >= 0 and ws[i].lower in before


def _located(ws: list[Word], phrase: Phrase, places: frozenset[str], *, apposition: bool = True) -> bool:
    """True when the phrase follows one of the ``places`` prepositions, directly, as part of a list or (with
    ``apposition``) after a comma (``from A, B and C``, ``to the provincial capital, Quetta``)."""
    i = phrase.first
    while i > 0 and (ws[i - 1].text in (",", "and", "or") or ws[i - 1].capital):
        i -= 1
    j = phrase.first - 1
    if apposition and j > 0 and ws[j].text == ",":
        while j > 0 and nominal(ws, j - 1):
            j -= 1
    return _after(ws, phrase.first, places) or _after(ws, i, places) or _after(ws, j, places)


def _asked(word: Word, asked: frozenset[str]) -> bool:
    """True when the word is one of the question's content words."""
    found = terms(word.text)
    return bool(found) and set(found) <= asked


def _trim(ws: list[Word], phrase: Phrase, asked: Asked) -> tuple[int, int] | None:
    """The phrase without the question's words, determiners and connectors at its edges; None when nothing new is left.

    A capitalised word the question spells otherwise stays (``Balochistan University`` for "go to university").
    """
    first, last = phrase.first, phrase.last

    literal = phrase.kind in (
        "date",
        "dates",
        "amount",
        "counted",
    )  # "May 18", "up to 40%": function words belong to them

    def drop(w: Word) -> bool:
        if not w.alpha or w.lower in DETERMINERS:
            return True
        if not literal and (w.lower in CONNECTORS or function_word(w)):
            return True
        return _asked(w, asked.terms) and (not w.capital or w.text in asked.spelled)

    while first <= last and (drop(ws[first]) or (phrase.kind == "group" and ws[first].text[0].isdigit())):
        first += 1  # "426 hostages": the count is not who they are
    while last >= first and drop(ws[last]):
        last -= 1
    if first > last or all(_asked(w, asked.terms) or not terms(w.text) for w in ws[first : last + 1]):
        return None
    return first, last


def _cut(ws: list[Word], phrase: Phrase, first: int, last: int) -> bool:
    """True when trimming cut a capitalised word off right next to what is left (``Cape Town`` -> ``Town``)."""
    return (first > phrase.first and ws[first - 1].capital) or (last < phrase.last and ws[last + 1].capital)


def _end(word: Word) -> int:
    """Where a word ends, a possessive ``'s`` left out."""
    return word.end - 2 if word.text[-2:] in ("'s", "’s") and len(word.text) > 2 else word.end


def _gap(marks: list[int], first: int, last: int, anchors: list[int]) -> float:
    """Content words and clause marks between the candidate and the nearest question word, plus a fraction
    (NEXT_GAP) of those to the next nearest, which breaks ties in favour of the phrase amid the question's words.

    ``marks`` are the running counts of :func:`_marks`: the words between two places are one subtraction."""
    gaps = sorted(
        marks[first] - marks[a + 1] if a < first else marks[a] - marks[last + 1] if a > last else 0 for a in anchors
    )
    gaps = [min(g, MAX_GAP) for g in [*gaps, MAX_GAP, MAX_GAP]]
    return gaps[0] + NEXT_GAP * gaps[1]


def _marks(ws: list[Word]) -> list[int]:
    """How many content words (not function words) and clause marks (``,;()``) stand before each place in ``ws``."""
    marks = [0]
    for w in ws:
        marks.append(marks[-1] + bool((w.alpha and not function_word(w)) or w.text in ",;()—"))
    return marks


def _position(first: int, last: int, anchors: list[int]) -> float:
    """Where the candidate stands among the question words: 1 after all of them, -1 before all of them."""
    outside = [a for a in anchors if a < first or a > last]
    if not outside:
        return 0.0
    return sum(1 if a < first else -1 for a in outside) / len(outside)
