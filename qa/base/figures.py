"""Figures, dates and names in text: the one list of month names and number words, and the parsers built on them."""

from __future__ import annotations

import re
from functools import lru_cache

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# Month names as written shortened, usually with a period ("Dec.", "Sept."); "May" is never shortened.
MONTH_ABBREVIATIONS = ("Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sept", "Sep", "Oct", "Nov", "Dec")

CARDINALS = {
    word: value
    for value, word in enumerate(
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
        "eighteen nineteen".split(),
        1,
    )
} | {word: 10 * value for value, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
ORDINALS = {
    word: value
    for value, word in enumerate("first second third fourth fifth sixth seventh eighth ninth tenth".split(), 1)
}
NUMBER_WORDS = CARDINALS | ORDINALS  # word -> the number it names
MAGNITUDES = frozenset({"hundred", "thousand", "million", "billion", "trillion", "percent"})

# The number words a claim's figures are read from: "one", "first" and "second" are left out, since "no one",
# "for the first time" and "a second look" state no figure.
FIGURE_WORDS = {word: value for word, value in NUMBER_WORDS.items() if word not in {"one", "first", "second"}}
# The words that make a sentence a candidate answer to "how many" (qa.answers.question): cardinals, ordinals, and
# counting words that are not numbers themselves.
COUNTING_WORDS = frozenset(
    set(CARDINALS)
    | set(ORDINALS)
    | {"hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion", "dozen", "dozens", "half"}
)

_DIGITS = re.compile(r"\d[\d,]*(?:\.\d+)?")
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)?")
_UNIT_WORDS = {"one": 1} | {word: value for word, value in FIGURE_WORDS.items() if value < 10}  # "twenty-five"
# A month named in running text: "May" only next to a day number ("may" is mostly the verb).
_MONTH = re.compile(
    r"\b(?:(" + "|".join(m for m in MONTHS if m != "May") + r")|(" + "|".join(MONTH_ABBREVIATIONS) + r")\b\.?"
    r"|May(?=\s+\d)|(?<=\d\s)May)\b"
)
# A capitalised word that does not open a sentence or a clause: a name (person, place, group, acronym).
_NAME = re.compile(r"(?<![.!?:;\"“(\[]\s)(?<![.!?:;\"“(\[])(?<=\s)[A-Z][\w'’-]*")
_LOWER_WORD = re.compile(r"[^\W_]+")
# A whole piece that is a date: "11 December 2023", "Dec. 5, 2020", "2023-12-11T09:30:00Z".
_DATE_MONTH = "(?P<month>" + "|".join([*MONTHS, *(rf"{a}\.?" for a in (*MONTH_ABBREVIATIONS, "May"))]) + ")"
_DATES = (
    re.compile(r"^(?P<day>\d{1,2})\s+" + _DATE_MONTH + r",?\s+(?P<year>\d{4})$", re.I),
    re.compile(r"^" + _DATE_MONTH + r"\s+(?P<day>\d{1,2}),?\s+(?P<year>\d{4})$", re.I),
    re.compile(r"^(?P<year>\d{4})-(?P<mnum>\d{2})-(?P<day>\d{2})(?:[T ][\d:.+Z-]*)?$"),
)


def figures(text: str) -> set[str]:
    """Numbers (``1,200`` -> 1200, ``twenty-five`` -> 25, ``5th`` -> 5), magnitudes and months named in a text."""
    if len(text) <= CACHED_LENGTH:
        return set(_cached_figures(text))
    return _figures(text)


CACHED_LENGTH = 600  # sentences and questions, read again by every answer that considers them


@lru_cache(maxsize=16384)
def _cached_figures(text: str) -> frozenset[str]:
    """The figures of a short text, kept for the next request that reads it."""
    return frozenset(_figures(text))


def _figures(text: str) -> set[str]:
    """Numbers, magnitudes and months named in a text."""
    found = {m.group(0).replace(",", "").rstrip(".").removesuffix(".0") for m in _DIGITS.finditer(text)}
    for word in _WORD.findall(text.lower()):
        tens, _, unit = word.partition("-")
        if tens in FIGURE_WORDS and FIGURE_WORDS[tens] >= 20 and unit in _UNIT_WORDS:
            found.add(str(FIGURE_WORDS[tens] + _UNIT_WORDS[unit]))
        elif word in FIGURE_WORDS:
            found.add(str(FIGURE_WORDS[word]))
        elif word in MAGNITUDES:
            found.add(word)
    if "%" in text:
        found.add("percent")
    for match in _MONTH.finditer(text):
        found.add(month_name(match.group(0)))
    return found


def names(text: str) -> set[str]:
    """Lowercased capitalised words of a text that do not open a sentence (``Dalbandin``, ``BYC``)."""
    found = {w.lower() for m in _NAME.finditer(text) for w in _LOWER_WORD.findall(m.group(0))}
    return {w for w in found if len(w) > 1}  # the "s" of "Balochistan's" is no name


def words(text: str) -> set[str]:
    """The lowercased words of a text, the vocabulary a claim's names are looked up in."""
    return set(_LOWER_WORD.findall(text.lower()))


def month_name(token: str) -> str:
    """The full month name for a month or its abbreviation in any case (``Dec.``, ``sept``, ``MAY``)."""
    prefix = token.rstrip(".")[:3].lower()
    return next(m for m in MONTHS if m.lower().startswith(prefix))


def parse_date(piece: str) -> str | None:
    """An ISO date (``2023-12-11``) when the whole piece is a date, else None."""
    piece = piece.strip().strip("*_ ")
    for pattern in _DATES:
        match = pattern.match(piece)
        if match is None:
            continue
        groups = match.groupdict()
        month = int(groups["mnum"]) if groups.get("mnum") else MONTHS.index(month_name(groups["month"])) + 1
        day, year = int(groups["day"]), int(groups["year"])
        if 1 <= month <= 12 and 1 <= day <= 31:
            return f"{year:04d}-{month:02d}-{day:02d}"
    return None
