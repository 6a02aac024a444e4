"""Tell article text from what is not article: titles, bylines, captions, share buttons, footers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.base.figures import parse_date
from qa.base.sentences import Span, split_sentences

BODY, TITLE, BYLINE, DATELINE, BOILERPLATE, DUPLICATE = "body", "title", "byline", "date", "boilerplate", "duplicate"

_CREDIT = re.compile(r"(?:^|\s/\s|\s)(?:image|photo|photograph|picture|credit|illustration)s?\s*:\s*\S", re.I)
_SHARE = re.compile(
    r"^(?:share|tweet|email|print|share\s+(?:tweet|this)|like)(?:\s+(?:share|tweet|email|print))*\W*$", re.I
)
_FOOTER = re.compile(
    r"\b(?:subscribe[ds]?|newsletters?|sign[ -]up|thank(?:s| you) for reading|don'?t forget to|click here|"
    r"follow us|all rights reserved|cookie policy|support our work|donate)\b|^join us\b|"
    r"fill (?:in|out) (?:this|the) form|get back to you|^to contact\b|\bvisit:\s*$|^read more\b|^related:|"
    r"^advertisement$",
    re.I,
)
_LINK_ONLY = re.compile(r"^[*_\s]*\[[^\]]*\]\([^)]*\)[*_\s]*$")
_MD_HEADING = re.compile(r"^#{1,6}\s+")
_EMPHASIS_ONLY = re.compile(r"^(\*\*|__)(?P<inner>[^*_]{1,120})\1$")
_BY = re.compile(r"^by\s+(?P<name>[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,4})$", re.I)
MAX_BOILERPLATE_WORDS = 45
TAIL_FRACTION = 0.8


@dataclass(frozen=True)
class Segment:
    """A sentence span and what it is: body text, metadata or boilerplate."""

    start: int
    end: int
    kind: str


@dataclass(frozen=True)
class Cleaned:
    """Segments of a document with the metadata found in them."""

    segments: tuple[Segment, ...]
    title: str | None
    author: str | None
    date: str | None

    def body_runs(self) -> list[list[Span]]:
        """Runs of consecutive body sentences; anything else between them breaks a run."""
        runs: list[list[Span]] = [[]]
        for seg in self.segments:
            if seg.kind == BODY:
                runs[-1].append((seg.start, seg.end))
            elif runs[-1]:
                runs.append([])
        return [run for run in runs if run]


def clean(text: str) -> Cleaned:
    """Classify every sentence of ``text`` and pull out title, byline and date."""
    spans = split_sentences(text)
    kinds = [_classify(text[s:e]) for s, e in spans]
    title = author = date = None
    head = min(len(spans), 6)
    for i in range(head):
        s, e = spans[i]
        piece = _unwrap(text[s:e])
        if kinds[i] == TITLE and title is None:
            title = _MD_HEADING.sub("", piece).strip()
        elif date is None and (parsed := parse_date(piece)) is not None and _is_meta_line(text, s, e):
            kinds[i], date = DATELINE, parsed
        elif author is None and (name := _byline(text, s, e)) is not None:
            kinds[i], author = BYLINE, name
    if title is None and spans and _looks_like_title(text, spans, kinds):
        kinds[0] = TITLE
        title = text[spans[0][0] : spans[0][1]].strip()
    _mark_duplicates(text, spans, kinds)
    _cut_footer(text, spans, kinds)
    segments = tuple(Segment(s, e, k) for (s, e), k in zip(spans, kinds, strict=True))
    return Cleaned(segments=segments, title=title, author=author, date=date)


def _classify(sentence: str) -> str:
    """Kind of one sentence judged on its own."""
    if _MD_HEADING.match(sentence):
        return TITLE
    words = len(sentence.split())
    if _LINK_ONLY.match(sentence) or _SHARE.match(sentence):
        return BOILERPLATE
    if words <= MAX_BOILERPLATE_WORDS and (_CREDIT.search(sentence) or _FOOTER.search(sentence)):
        return BOILERPLATE
    return BODY


def _unwrap(piece: str) -> str:
    """Strip markdown emphasis around a whole line: ``**Dr. Zayar**`` -> ``Dr. Zayar``."""
    match = _EMPHASIS_ONLY.match(piece.strip())
    return match.group("inner").strip() if match else piece.strip()


def _is_meta_line(text: str, start: int, end: int) -> bool:
    """True when the span stands alone on its line (a byline or dateline, not a sentence in a paragraph)."""
    before = text.rfind("\n", 0, start)
    after = text.find("\n", end)
    line = text[before + 1 : len(text) if after < 0 else after].strip()
    return line == text[start:end].strip()


def _byline(text: str, start: int, end: int) -> str | None:
    """The author's name when the span is a byline line (``**Name**`` or ``By Name``)."""
    if not _is_meta_line(text, start, end):
        return None
    raw = text[start:end].strip()
    inner = _unwrap(raw)
    by = _BY.match(inner)
    if by:
        return by.group("name")
    if inner != raw and re.fullmatch(r"(?:[A-Z][\w’'-]*\.?\s?){1,6}", inner):
        return inner
    return None


def _looks_like_title(text: str, spans: list[Span], kinds: list[str]) -> bool:
    """A short first sentence on its own line, or followed by a caption, reads as the headline."""
    s, e = spans[0]
    first = text[s:e]
    if len(first.split()) > 20 or first.endswith("."):
        return False
    followed_by_boilerplate = len(kinds) > 1 and kinds[1] == BOILERPLATE
    return _is_meta_line(text, s, e) or followed_by_boilerplate


def _normal(piece: str) -> str:
    """Lowercase words only, for comparing sentences."""
    return " ".join(re.findall(r"\w+", piece.lower()))


def _mark_duplicates(text: str, spans: list[Span], kinds: list[str]) -> None:
    """Mark repeats of an earlier sentence (repeated captions, pull quotes) so they are indexed once."""
    seen: set[str] = set()
    for i, (s, e) in enumerate(spans):
        key = _normal(text[s:e])
        if kinds[i] != BODY or len(key.split()) < 6:
            continue
        if key in seen:
            kinds[i] = DUPLICATE
        seen.add(key)


def _cut_footer(text: str, spans: list[Span], kinds: list[str]) -> None:
    """Once a footer line appears in the last part of the text, everything after it is footer too."""
    limit = len(text) * TAIL_FRACTION
    for i, (s, _) in enumerate(spans):
        if s >= limit and kinds[i] == BOILERPLATE and _FOOTER.search(text[s : spans[i][1]]):
            for j in range(i + 1, len(spans)):
                if kinds[j] == BODY:
                    kinds[j] = BOILERPLATE
            return
