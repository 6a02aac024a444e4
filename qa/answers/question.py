"""What a question asks for: its expected answer type and its content terms."""

from __future__ import annotations

import re

from qa.base.figures import COUNTING_WORDS, MONTHS
from qa.base.terms import terms

NUMBER, DATE, PERSON = "number", "date", "person"

_NUMBER_Q = re.compile(
    r"\bhow (?:many|much|far|long|large|big|old)\b|\bwhat (?:number|percentage|share|proportion)\b|"
    r"\b(?:count|rate|percent(?:age)?|average|income|salary|population|total|figure|toll|rank(?:ed|ing)?)\b",
    re.I,
)
_DATE_Q = re.compile(
    # "when" opens the question or is followed by an auxiliary; "What did they do when police came?" is no date.
    r"^\s*when\b|\bwhen (?:did|do|does|was|were|is|are|will|would|has|have|had)\b|"
    r"\bwhat (?:year|date|day|month)\b|\bwhich (?:year|date|day|month)\b|\bsince when\b",
    re.I,
)
_PERSON_Q = re.compile(
    r"^\s*(?:who|whom|whose)\b|\bwho (?:is|was|are|were|led|leads|heads)\b|^\s*name\b|\bby whom\b", re.I
)

_NUMBER = re.compile(r"\d|\b(?:" + "|".join(sorted(COUNTING_WORDS)) + r")\b", re.I)
_DATE = re.compile(
    r"\b(?:1[5-9]\d\d|20\d\d)s?\b|\b(?:" + "|".join(m[:3] for m in MONTHS) + r")[a-z]*\.?\s+\d{1,2}\b|"
    r"\b\d{1,2}\s+(?:" + "|".join(MONTHS) + r")\b",
    re.I,
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+")

# Words that frame a question rather than name its subject.
FRAME_WORDS = frozenset(
    terms(
        "say says said name named happen happened count quote quoted according describe described mention mentioned "
        "article piece author claim claims tell told know known call called explain besides apart"
    )
)


def answer_type(question: str) -> str | None:
    """The kind of answer asked for (number, date, person), or None when it is open."""
    if _DATE_Q.search(question):
        return DATE
    if _PERSON_Q.search(question):
        return PERSON
    if _NUMBER_Q.search(question):
        return NUMBER
    return None


def has_type(kind: str | None, sentence: str, question: str) -> bool:
    """True when the sentence holds an answer of that kind that the question does not already contain."""
    if kind is None:
        return True
    pattern = {NUMBER: _NUMBER, DATE: _DATE, PERSON: _NAME}[kind]
    asked = question.lower()
    return any(m.group(0).lower() not in asked for m in pattern.finditer(sentence))


def content_terms(question: str) -> list[str]:
    """Stemmed terms of the question that name its subject (framing words removed)."""
    return [t for t in terms(question) if t not in FRAME_WORDS]
