"""Sentence boundaries as character spans, never rewriting the text (glued ``protests.Women`` included)."""

from __future__ import annotations

import re

from qa.base.figures import MONTH_ABBREVIATIONS

Span = tuple[int, int]

ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "gen",
        "col",
        "lt",
        "maj",
        "capt",
        "sgt",
        "gov",
        "sen",
        "rep",
        "rev",
        "hon",
        "pres",
        *(a.lower() for a in MONTH_ABBREVIATIONS),
        "no",
        "nos",
        "vol",
        "fig",
        "art",
        "ch",
        "sec",
        "vs",
        "etc",
        "inc",
        "ltd",
        "co",
        "corp",
        "dept",
        "univ",
        "est",
        "approx",
        "al",
        "e.g",
        "i.e",
        "cf",
    ]
)

CLOSERS = "\"'”’)]»"
# Terminal punctuation, optional closing quotes or brackets, then spaces and the start of a new sentence.
_SPACED = re.compile(r"[.!?…]+[" + re.escape(CLOSERS) + r"]*(?=\s+[\"'“‘(\[«]?[A-Z0-9])")
# Terminal punctuation glued to the next sentence: "protests.Women", "cause.”He", "(BYC).Between".
_GLUED = re.compile(
    r"(?:(?<=[a-z0-9%]{2})|(?<=[A-Za-z0-9%][)\]]))[.!?]+[" + re.escape(CLOSERS) + r"]*(?=[\"“‘]?[A-Z][a-z])"
)
# Headings, captions and credits glued to the text that follows: "struggleNumerous", "2018In", "59)Tribal".
_CAMEL = re.compile(r"(?:(?<=[a-z]{3})|(?<=\d{4})|(?<=\)))(?=[A-Z][a-z]+\b)")
_PARAGRAPH = re.compile(r"\n[ \t\u00a0]*\n\s*")
_LINE = re.compile(r"\n")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans of ``text[start:end]`` as absolute offsets, whitespace trimmed."""
    stop = len(text) if end is None else end
    spans: list[Span] = []
    for block_start, block_end in _blocks(text, start, stop):
        cuts = sorted(_cuts(text, block_start, block_end))
        prev = block_start
        for cut in [*cuts, block_end]:
            spans.extend(_trim(text, prev, cut))
            prev = cut
    return spans


def _blocks(text: str, start: int, stop: int) -> list[Span]:
    """Paragraphs, and lines that end a sentence or stand alone as headings."""
    blocks: list[Span] = []
    pos = start
    for match in _PARAGRAPH.finditer(text, start, stop):
        blocks.extend(_lines(text, pos, match.start()))
        pos = match.end()
    blocks.extend(_lines(text, pos, stop))
    return blocks


def _lines(text: str, start: int, stop: int) -> list[Span]:
    """Split a paragraph at line breaks after terminal punctuation or after a short heading-like line."""
    out: list[Span] = []
    pos = start
    for match in _LINE.finditer(text, start, stop):
        line = text[pos : match.start()].rstrip()
        if not line or line[-1] in ".!?:;" + CLOSERS or len(line) < 60 or line.startswith(("#", "*", "-", ">")):
            out.append((pos, match.start()))
            pos = match.end()
    out.append((pos, stop))
    return out


def _cuts(text: str, start: int, stop: int) -> set[int]:
    """Offsets inside one block where a new sentence starts."""
    cuts: set[int] = set()
    for match in _SPACED.finditer(text, start, stop):
        if not _is_abbreviation(text, match.start()):
            cuts.add(match.end())
    for pattern in (_GLUED, _CAMEL):
        for match in pattern.finditer(text, start, stop):
            if match.end() < stop and not _is_abbreviation(text, match.start()):
                cuts.add(match.end())
    return {c for c in cuts if start < c < stop}


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at ``dot`` ends an abbreviation or an initial (``Dr.``, ``Z.A.``, ``U.S.``)."""
    if text[dot] != ".":
        return False
    match = _WORD_BEFORE.search(text, max(0, dot - 12), dot)
    if match is None:
        return False
    word = match.group(1)
    if "." in word.strip("."):
        return True
    if len(word) == 1 and word.isupper():
        return True
    return word.lower() in ABBREVIATIONS


def _trim(text: str, start: int, end: int) -> list[Span]:
    """The span with surrounding whitespace removed, or nothing if it is blank."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return [(start, end)] if start < end else []
