"""What a question asks for: its expected answer type and its content terms."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.answers.phrases import DETERMINERS, Word, function_word, verb_like, words
from qa.base.figures import COUNTING_WORDS, MONTHS, figures
from qa.base.terms import terms

NUMBER, DATE, PERSON, PLACE = "number", "date", "person", "place"

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

# "Where" opens the question or asks with an auxiliary ("Apart from X, where else did..."); "the place where" is no
# place question. "What city", "in which country" ask for a place too.
_PLACE_Q = re.compile(
    r"(?:^\s*(?:(?:to|from) )?|[,;]\s*(?:and )?)where\b|"
    r"\bwhere (?:else )?(?:did|do|does|was|were|is|are|will|would|has|have|had|can|could)\b|"
    r"\b(?:what|which) (?:country|countries|city|cities|town|towns|village|region|province|district|place|river|"
    r"island|continent|capital)\b",
    re.I,
)

_NUMBER = re.compile(r"\d|\b(?:" + "|".join(sorted(COUNTING_WORDS)) + r")\b", re.I)
_DATE = re.compile(
    r"\b(?:1[5-9]\d\d|20\d\d)s?\b|\b(?:" + "|".join(m[:3] for m in MONTHS) + r")[a-z]*\.?\s+\d{1,2}\b|"
    r"\b\d{1,2}\s+(?:" + "|".join(MONTHS) + r")\b",
    re.I,
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+")
# A capitalised name after a place preposition: "in Dalbandin", "to the Channel Islands".
_PLACE = re.compile(
    r"\b(?:in|at|to|from|near|into|across|throughout|outside|inside|around|towards?)\s+(?:the\s+)?"
    r"(?P<answer>[A-Z][\w'’-]+(?:\s+(?:of\s+)?[A-Z][\w'’-]+)*)"
)

# Words that frame a question rather than name its subject.
FRAME_WORDS = frozenset(
    terms(
        "say says said name named happen happened count quote quoted according describe described mention mentioned "
        "article piece author claim claims tell told know known call called explain besides apart"
    )
)


def answer_type(question: str) -> str | None:
    """The kind of answer asked for (number, date, person, place), or None when it is open."""
    if _DATE_Q.search(question):
        return DATE
    if _PERSON_Q.search(question):
        return PERSON
    if _PLACE_Q.search(question):
        return PLACE
    if _NUMBER_Q.search(question):
        return NUMBER
    return None


def has_type(kind: str | None, sentence: str, question: str) -> bool:
    """True when the sentence holds an answer of that kind that the question does not already contain."""
    if kind is None:
        return True
    pattern = {NUMBER: _NUMBER, DATE: _DATE, PERSON: _NAME, PLACE: _PLACE}[kind]
    asked = question.lower()
    return any(m.group(m.lastgroup or 0).lower() not in asked for m in pattern.finditer(sentence))


def content_terms(question: str) -> list[str]:
    """Stemmed terms of the question that name its subject (framing words removed)."""
    return [t for t in terms(question) if t not in FRAME_WORDS]


# Where the answer stands in a sentence that states it (qa.answers.spans).
AUXILIARIES = frozenset("did do does will would can could should shall might may must has have had".split())
COPULAS = frozenset("is was are were be been".split())
PREPOSITIONS = frozenset("with from to by for of on in at against about into under over".split())
_WH = re.compile(r"\b(who|whom|whose|what|which|where|when|how|why)\b", re.I)
_HEAD = re.compile(r"\bhow (?:many|much)\s+(\w+)", re.I)
_PLURAL = re.compile(r"\b(?:were|are|two|three|four|five|both|several)\b|\b(?:what|which) \w+s\b", re.I)
_NAMING_Q = re.compile(r"\b(?:call(?:ed)?|named?|known|term(?:ed)?|refer(?:red)?)\b", re.I)
_STRANDED = re.compile(r"\b(\w+)\s*[?.]?\s*$|^\s*(\w+) (?:whom|what|which|where)\b", re.I)


@dataclass(frozen=True)
class Asked:
    """What the question says about its answer: kind, words, where the answer stands, how many are wanted."""

    kind: str | None
    terms: frozenset[str]
    spelled: frozenset[str]
    side: int
    plural: bool
    stranded: str | None
    counted: frozenset[str]
    named: bool
    head: frozenset[str]
    naming: bool
    figures: frozenset[str]

    @classmethod
    def of(cls, question: str) -> Asked:
        """Read a question."""
        stranded = _STRANDED.search(question)
        head = _HEAD.search(question)
        preposition = next((g.lower() for g in stranded.groups() if g), None) if stranded else None
        return cls(
            kind=answer_type(question),
            terms=frozenset(terms(question)),
            spelled=frozenset(w.text for w in words(question)),
            side=_side(question),
            plural=bool(_PLURAL.search(question)),
            stranded=preposition if preposition in PREPOSITIONS else None,
            counted=frozenset(terms(head.group(1))) if head else frozenset(),
            named=bool(re.search(r"\b(?:what|which)\s+(?!is|was|are|were|did|do|does)[a-z]+\b", question, re.I)),
            head=_head(question),
            naming=bool(_NAMING_Q.search(question)),
            figures=frozenset(f for f in figures(question) if f.isdigit() and not _DATE.fullmatch(f)),
        )


def _head(question: str) -> frozenset[str]:
    """The stemmed noun a "what X" question asks for (``what trading company`` -> company, ``what is the name of``
    -> name), or none (``what did X do``)."""
    found = re.search(r"\b(?:what|which)\b", question, re.I)
    ws = [w for w in words(question[found.end() :]) if w.alpha] if found else []
    if not ws or ws[0].lower in AUXILIARIES:
        return frozenset()
    if ws[0].lower in COPULAS:
        rest = [w for w in ws[1:4] if w.lower not in DETERMINERS]
        of = len(rest) > 1 and rest[1].lower == "of"
        return frozenset(terms(rest[0].text)) if rest and of else frozenset()
    head = None
    for j in range(min(len(ws), 3)):
        if function_word(ws[j]) or ws[j].lower in COPULAS or (j > 0 and verb_like(ws, j)):
            break
        head = ws[j]
    return frozenset(terms(head.text)) if head is not None else frozenset()


def _participle(ws: list[Word]) -> bool:
    """True when the last word reads as a past participle (``completed``, ``built``)."""
    return (
        bool(ws) and ws[-1].alpha and not ws[-1].capital and (ws[-1].lower.endswith("ed") or verb_like(ws, len(ws) - 1))
    )


def _side(question: str) -> int:
    """1 when the answer follows the question's words in a sentence (``Who did X marry?``), -1 when it precedes
    them (``Who founded X?``), 0 when the question does not say (``Who was X?``)."""
    found = _WH.search(question)
    if found is None:
        return 0
    if re.search(r"\w", question[: found.start()]) and not re.fullmatch(r"\s*\w+\s*", question[: found.start()]):
        return 1  # "Most of X belonged to which state?", "X speak what language?": the question word is an object
    wh = found.group(1).lower()
    following = [w.lower for w in words(question[found.end(1) :]) if w.alpha][:4]
    if wh == "whom":
        return 1
    if wh in ("what", "which", "how"):  # skip the asked noun: "what country did", "which treaty ended"
        verbs = [w for w in following[:3] if w in AUXILIARIES | COPULAS]
        following = [verbs[0]] if verbs else following[1:]
    nxt = next((w for w in following if w not in ("else", "exactly", "then")), "")
    if nxt in AUXILIARIES:
        return 1
    rest = [w for w in words(question[found.end(1) :]) if w.alpha]
    if nxt in COPULAS and wh != "who" and _participle(rest):
        return 1  # passive: "When was the dam completed?" -> "completed in 1962"
    if not nxt or nxt in COPULAS or nxt in DETERMINERS or function_word(Word(0, len(nxt), nxt)):
        return 0
    return -1
