"""Terms of a text: lowercased, stopword-free, Snowball-stemmed words, the one tokenizer of keyword search."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

# A word (letters and digits, with inner apostrophes: ``O'Neill's``); only what stands before its first apostrophe
# is kept (``Pakistan's`` -> ``pakistan``).
_TERM = re.compile(r"([^\W_]+)(?:['’][^\W_]+)*")
# The Snowball English stopword list (question words included), so "how", "why", "were" never drive a match.
STOPWORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers herself
    it its itself they them their theirs themselves what which who whom whose this that these those am is are was were
    be been being have has had having do does did doing would should could ought a an the and but if or because as
    until while of at by for with about against between into through during before after above below to from up down
    in out on off over under again further then once here there when where why how all any both each few more most
    other some such no nor not only own same so than too very can will just s t d ll m re ve""".split()
)
_STOP = STOPWORDS


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    """The English Snowball stemmer, built once."""
    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """Lowercased, stemmed terms of ``text`` without stopwords (``Pakistan's`` -> ``pakistan``)."""
    if len(text) <= CACHED_LENGTH:
        return list(_cached_terms(text))
    return _terms(text)


CACHED_LENGTH = 600  # questions and sentences, which every answer reads again; not whole passages or articles


@lru_cache(maxsize=16384)
def _cached_terms(text: str) -> tuple[str, ...]:
    """The terms of a short text, kept for the next request that reads it."""
    return tuple(_terms(text))


_STEMS: dict[str, str] = {}  # word -> stem, filled up to STEMS_KEPT words and never emptied (threads read it)
STEMS_KEPT = 1 << 17


def _terms(text: str) -> list[str]:
    """Lowercased, stemmed terms of ``text`` without stopwords; a word already seen is not stemmed again (stemming
    was about half of this function's time: 8,024 SciFact, SQuAD texts and questions 2.4-2.6 s -> 1.3-1.5 s)."""
    words = [w for w in _TERM.findall(text.lower()) if w not in _STOP]
    stems = _STEMS
    missing = [w for w in words if w not in stems]
    if not missing:
        return [stems[w] for w in words]
    fresh = dict(zip(missing, _stemmer().stemWords(missing), strict=True))
    if len(stems) < STEMS_KEPT:
        stems.update(fresh)
    return [fresh[w] if w in fresh else stems[w] for w in words]


# Words and their opposites, stemmed, both directions: a question word whose opposite stands in the answering
# sentence instead of it suggests the question asks what the text does not say (qa.answers.signals). Verbs with
# irregular past forms (begin/began, win/won, rise/rose) are left out: the stemmer cannot see "began" is "begin".
_OPPOSITE_WORDS = (
    "first last, largest smallest, biggest smallest, highest lowest, maximum minimum, "
    "earliest latest, early late, increase decrease, gain loss, success failure, north south, "
    "east west, upper lower, inner outer, major minor, older younger, oldest youngest, old new, ancient modern, "
    "start end, open close, accept reject, support oppose, strong weak, rich poor, "
    "public private, internal external, import export, positive negative, true false, long short, "
    "longest shortest, victory defeat, legal illegal, possible impossible, common rare"
)


def _opposites(listed: str) -> dict[str, tuple[str, ...]]:
    """Each stemmed word of the comma-separated pairs, mapped to its opposites."""
    out: dict[str, tuple[str, ...]] = {}
    for pair in listed.split(","):
        first, second = (terms(word)[0] for word in pair.split())
        out[first] = (*out.get(first, ()), second)
        out[second] = (*out.get(second, ()), first)
    return out


OPPOSITES = _opposites(_OPPOSITE_WORDS)
