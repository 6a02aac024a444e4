"""Phrases of a sentence: its words with offsets, and the names, dates, amounts and noun groups among them."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from qa.base.figures import MONTH_ABBREVIATIONS, MONTHS, NUMBER_WORDS
from qa.base.terms import STOPWORDS

_WORD = re.compile(r"[$£€]?\d+(?:[.,:]\d+)*(?:st|nd|rd|th|s)?%?|[^\W_]+(?:[-'’.&][^\W_]+)*|[^\w\s]")
_MONTH = "(?:" + "|".join([m for m in MONTHS if m != "May"] + [rf"{a}\." for a in MONTH_ABBREVIATIONS]) + ")"
_ANY_MONTH = rf"(?:{_MONTH}|May)"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?:1\d{3}|20\d{2})(?:\s?(?:AD|BC|BCE|CE))?(?:\s?[–-]\s?\d{2,4})?"
_ORDINAL = (
    r"(?:\d+(?:st|nd|rd|th)|"
    + "|".join(w for w, v in NUMBER_WORDS.items() if w.endswith(("st", "nd", "rd", "th")))
    + ")"
)
_DATES = re.compile(
    "|".join(
        [
            rf"\b(?:(?:early|mid|late)[- ])?{_DAY}\s+(?:of\s+)?{_ANY_MONTH},?(?:\s+{_YEAR})?",
            rf"\b(?:(?:early|mid|late)[- ])?{_ANY_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?\b",
            rf"\b(?:(?:early|mid|late)[- ])?(?:(?:spring|summer|autumn|fall|winter)\s+(?:of\s+)?|"
            rf"{_MONTH}\s+(?:of\s+)?)?{_YEAR}s?\b",
            rf"\b(?:(?:early|mid|late)[- ])?{_MONTH}\b",
            rf"\b(?:(?:early|mid|late)[- ])?{_ORDINAL}(?:\s+(?:and|or|to)\s+{_ORDINAL})?[- ]centur(?:y|ies)\b",
            r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b",
        ]
    ),
    re.I,
)
_NUMBER_WORD = "|".join(sorted((w for w in NUMBER_WORDS if len(w) > 2), key=len, reverse=True))
_AMOUNTS = re.compile(
    rf"(?:[$£€]\s?)?(?:\d+(?:[.,]\d+)*(?:st|nd|rd|th)?|\b(?:{_NUMBER_WORD})(?:-(?:{_NUMBER_WORD}))?\b|"
    r"\ba dozen\b|\bhalf\b)"
    r"(?:\s+(?:hundred|thousand|million|billion|trillion)s?)*(?:\s?%|\s+percent\b|\s+per cent\b)?",
    re.I,
)
# Words that join the parts of one name ("Battle of Hastings", "William the Conqueror", "Robert de Grantmesnil").
CONNECTORS = frozenset(
    {"of", "the", "de", "da", "del", "della", "di", "du", "des", "la", "le", "van", "von", "al", "bin"}
)
DETERMINERS = frozenset(
    "a an the this that these those his her its their our my your some many several few any each every both no".split()
)
_FUNCTION = STOPWORDS | {
    *"also however said says say told according among within without upon via per toward towards across around".split(),
    *"near since although though whereas unless whether yet much well even still often later already".split(),
    *"thus hence therefore instead rather perhaps ago almost nearly just mainly mostly largely partly far".split(),
    *"will would shall should may might must can could".split(),
}
_IRREGULAR_VERBS = frozenset(
    """made became become took taken gave given began begun held led known shown seen found went gone came got saw won
    lost kept put ran brought bought sent built spent wrote written grew grown knew thought felt stood fell fought paid
    met heard meant struck sought taught caught sold drew drawn chose chosen broke broken spoke spoken rose risen flew
    threw done let includes include remains remain seems seem""".split()
)
# Words in -ly that are not adverbs: nouns and adjectives.
_NOT_ADVERBS = frozenset(
    """family assembly supply monopoly rally anomaly ally italy july reply early princely friendly elderly costly lonely
    lovely likely unlikely daily weekly monthly yearly holy ugly deadly orderly timely worldly scholarly""".split()
)


@dataclass(frozen=True)
class Word:
    """A word or punctuation mark of a sentence: ``text[start:end]``."""

    start: int
    end: int
    text: str

    @property
    def lower(self) -> str:
        """The word in lower case."""
        return self.text.lower()

    @property
    def capital(self) -> bool:
        """True when the word starts with a capital letter (or is a number that reads as part of a name: III)."""
        return self.text[0].isupper()

    @property
    def alpha(self) -> bool:
        """True for a word (letters or digits), False for punctuation."""
        return self.text[0].isalnum() or self.text[0] in "$£€"


@dataclass(frozen=True)
class Phrase:
    """Words ``first..last`` (inclusive) of a sentence, and what kind of phrase they make."""

    first: int
    last: int
    kind: str


def words(text: str) -> list[Word]:
    """The words and punctuation marks of a text with their offsets."""
    return [Word(m.start(), m.end(), m.group(0)) for m in _WORD.finditer(text)]


def function_word(word: Word) -> bool:
    """True for a stopword, auxiliary, adverb or other word that is never the head of an answer."""
    low = word.lower
    return low in _FUNCTION or (low.endswith("ly") and len(low) > 5 and low not in _NOT_ADVERBS and not word.capital)


def verb_like(ws: list[Word], i: int) -> bool:
    """True when word ``i`` reads as a verb: irregular past forms, ``-ed``/``-ing`` not after a determiner."""
    w = ws[i]
    if w.capital or not w.text.isalpha():
        return False
    low, before = w.lower, ws[i - 1].lower if i else ""
    if low in _IRREGULAR_VERBS:
        return True
    if low.endswith(("ed", "ing")) and len(low) > 4:
        return before not in DETERMINERS and before not in {"of", "in", "from", "to", "with", "for", "by", "on", "at"}
    return before in {"to", "will", "would", "can", "could", "should", "must", "may", "might", "did", "does", "do"}


def opening(ws: list[Word], i: int) -> bool:
    """True when word ``i`` opens the sentence or a quotation in it: its capital may not be a name's."""
    return i == 0 or (
        ws[i - 1].text in "\"“‘'([:;.!?—–-" and (i == 1 or not ws[i - 2].alpha or ws[i - 1].text in ".!?")
    )


def name_start(ws: list[Word], i: int) -> bool:
    """True when the capital of word ``i`` marks a name, not the start of a sentence or clause."""
    w = ws[i]
    if not w.capital or not w.alpha:
        return False
    return not opening(ws, i) or (
        w.lower not in _FUNCTION and w.lower not in DETERMINERS and not w.lower.endswith("ly")
    )


def names(ws: list[Word]) -> list[Phrase]:
    """Runs of capitalised words (with connectors such as ``of``, and joined in lists: ``A, B and C``)."""
    out: list[Phrase] = []
    i = 0
    while i < len(ws):
        if not name_start(ws, i):
            i += 1
            continue
        j = i
        while True:
            k = j + 1
            while k < len(ws) and ws[k].lower in CONNECTORS and k - j <= 2:
                k += 1
            if k < len(ws) and ws[k].capital and ws[k].alpha and (k == j + 1 or ws[k].lower not in _FUNCTION):
                j = k
                continue
            break
        k = j + 1
        while k < len(ws) and not ws[k].capital and nominal(ws, k):
            k += 1
        out.append(Phrase(i, j, "name") if k == j + 1 else Phrase(i, k - 1, "described"))
        i = j + 1
    return _lists(ws, out)


def _lists(ws: list[Word], found: list[Phrase]) -> list[Phrase]:
    """Names joined in a list ``A, B and C`` as one phrase, besides each of them."""
    out = list(found)
    run = found[:1]
    for prev, cur in itertools.pairwise(found):
        between = [w.lower for w in ws[prev.last + 1 : cur.first]]
        if between in ([","], ["and"], [",", "and"], ["or"], [",", "or"]):
            run.append(cur)
            continue
        if len(run) > 1:
            out.append(Phrase(run[0].first, run[-1].last, "names"))
        run = [cur]
    if len(run) > 1:
        out.append(Phrase(run[0].first, run[-1].last, "names"))
    return out


def _matched(ws: list[Word], pattern: re.Pattern[str], text: str, kind: str) -> list[Phrase]:
    """The phrases a pattern matches in the text, as word ranges."""
    out = []
    for m in pattern.finditer(text):
        inside = [i for i, w in enumerate(ws) if m.start() <= w.start and w.end <= m.end()]
        if inside and m.group(0).strip():
            out.append(Phrase(inside[0], inside[-1], kind))
    return out


def dates(ws: list[Word], text: str) -> list[Phrase]:
    """Dates, years, months, centuries and weekdays, and ranges of two (``from 1562 to 1598``) as kind ``dates``."""
    found = _matched(ws, _DATES, text, "date")
    ranges = [
        Phrase(a.first, b.last, "dates")
        for a, b in itertools.pairwise(found)
        if b.first == a.last + 2 and ws[a.last + 1].lower in ("to", "and", "until", "–", "-")
    ]
    return found + ranges


def amounts(ws: list[Word], text: str) -> list[Phrase]:
    """Numbers (with magnitude, percent and currency), each also extended by the noun it counts when one follows
    (kind ``counted``), and ranges of two (``5,000 to 30,000``, ``five to ten years``)."""
    bare = _matched(ws, _AMOUNTS, text, "amount")
    out = []
    for a, b in itertools.pairwise(bare):
        if b.first == a.last + 2 and ws[a.last + 1].lower in ("to", "and", "or", "–", "-"):
            out.append(Phrase(a.first, b.last, "amount"))
    for found in [*bare, *out]:
        nxt = found.last + 1
        while nxt < len(ws) and nxt - found.last <= 2 and nominal(ws, nxt) and not ws[nxt].capital:
            nxt += 1
        out.append(found)
        if nxt > found.last + 1:
            out.append(Phrase(found.first, nxt - 1, "counted"))
    return out


def nominal(ws: list[Word], i: int) -> bool:
    """True when word ``i`` can be part of a noun group."""
    w = ws[i]
    return w.alpha and not function_word(w) and not verb_like(ws, i)


def groups(ws: list[Word]) -> list[Phrase]:
    """Noun groups: runs of nominal words, joined across ``of`` (``a small number of members``)."""
    out: list[Phrase] = []
    i = 0
    while i < len(ws):
        if not nominal(ws, i):
            i += 1
            continue
        j = i
        while j + 1 < len(ws) and nominal(ws, j + 1):
            j += 1
        out.append(Phrase(i, j, "group"))
        k = j + 1
        while k + 1 < len(ws) and ws[k].lower == "of":
            m = k + 1
            while m < len(ws) and ws[m].lower in DETERMINERS:
                m += 1
            if m >= len(ws) or not nominal(ws, m):
                break
            n = m
            while n + 1 < len(ws) and nominal(ws, n + 1):
                n += 1
            out.append(Phrase(i, n, "group"))
            k = n + 1
        i = j + 1
    return out
