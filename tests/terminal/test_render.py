"""Terminal rendering: corpus text that could drive the terminal (escapes, tabs, bidi overrides) is shown escaped;
the answer span of a quote is bold on a colour terminal."""

from __future__ import annotations

import io

import msgspec
import pytest

from qa.base.records import Answer, Citation, FinalEvent, Hit, Passage, Scores, Span, TokenEvent
from qa.terminal.render import (
    BOLD,
    LINES,
    NORMAL,
    colour_allowed,
    format_answer,
    print_stream,
    printable,
    quote_cited,
)

HOSTILE = "Otters\x1b[2J\x1b]0;owned\x07 return\tto\nthe\u202eharbour\u2028now\x85\x00\x7f"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain title", "plain title"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("a\tb\nc\rd", "a\\tb\\nc\\rd"),
        ("safe\u202egnp.exe", "safe\\u202egnp.exe"),
        ("line\u2028para\u2029end", "line\\u2028para\\u2029end"),
        ("c1\x85\x9b", "c1\\x85\\x9b"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("ڈیرہ\u200cبگٹی 👨\u200d👩", "ڈیرہ\u200cبگٹی 👨\u200d👩"),
        ("Café — “quotes” Ω 東京", "Café — “quotes” Ω 東京"),
    ],
)
def test_printable_escapes_what_acts_on_the_terminal(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_printable_can_keep_line_breaks() -> None:
    assert printable("one\ntwo\tthree\x1b", LINES) == "one\ntwo\tthree\\x1b"


def _answer(answerable: bool) -> Answer:
    passage = Passage(doc_id="d\x1bx", start=0, end=10, text="Some " + HOSTILE)
    hit = Hit(rank=1, passage=passage, title=HOSTILE, scores=Scores(dense=0.5, keyword=1.0, fused=0.5))
    cite = Citation(n=1, doc_id="d\x1bx", title=HOSTILE, start=0, end=10, quote=HOSTILE)
    return Answer(
        question="q?",
        answerable=answerable,
        answer="The otters\x1b[8m returned [1].\nSecond line." if answerable else "No.",
        confidence=0.9 if answerable else 0.1,
        reason=None if answerable else "no_relevant_passage",
        citations=(cite,) if answerable else (),
        hits=(hit,),
        timings_ms={},
    )


@pytest.mark.parametrize("answerable", [True, False], ids=["citations", "closest-passages"])
def test_answers_print_no_control_characters(answerable: bool) -> None:
    text = format_answer(_answer(answerable))
    assert not any(c in text for c in "\x1b\x07\x00\x7f\x85\u202e\u2028\t")
    assert (
        "Otters\\x1b[2J\\x1b]0;owned\\x07 return\\tto\\nthe\\u202eharbour\\u2028now\\x85\\x00\\x7f (d\\x1bx, " in text
    )
    if answerable:
        assert text.startswith("The otters\\x1b[8m returned [1].\nSecond line.\n")


def test_streamed_answer_is_escaped_but_keeps_its_lines() -> None:
    out = io.StringIO()
    answer = _answer(True)
    print_stream(
        iter([TokenEvent(text="The otters\x1b[8m "), TokenEvent(text="returned.\n"), FinalEvent(answer=answer)]), out
    )
    printed = out.getvalue()
    assert printed.startswith("The otters\\x1b[8m returned.\n")
    assert "\x1b" not in printed


QUOTE = "The long   march\nreached Quetta on Friday."
SPANNED = Citation(
    n=2,
    doc_id="d1",
    title="March",
    start=100,
    end=100 + len(QUOTE),
    quote=QUOTE,
    answer_span=Span(start=100 + QUOTE.index("Quetta"), end=100 + QUOTE.index("Quetta") + len("Quetta")),
)


def _cited(citation: Citation) -> Answer:
    return Answer(
        question="Where did the march go?",
        answerable=True,
        answer="It reached Quetta. [2]",
        confidence=0.8,
        reason=None,
        citations=(citation,),
        hits=(),
        timings_ms={},
    )


def test_answer_span_is_bold_with_colour_and_plain_without() -> None:
    assert quote_cited(SPANNED, colour=True) == f'    "The long march reached {BOLD}Quetta{NORMAL} on Friday."'
    assert quote_cited(SPANNED, colour=False) == '    "The long march reached Quetta on Friday."'
    assert format_answer(_cited(SPANNED), colour=True).count(BOLD) == 1
    assert "\x1b" not in format_answer(_cited(SPANNED))
    no_span = msgspec.structs.replace(SPANNED, answer_span=None)
    assert quote_cited(no_span, colour=True) == quote_cited(SPANNED, colour=False)


def test_span_text_from_the_corpus_is_still_escaped() -> None:
    text = "Go to \x1b[8mQuetta\x1b[0m now."
    start = text.index("\x1b[8m")
    cite = Citation(
        n=1, doc_id="d", title="t", start=0, end=len(text), quote=text, answer_span=Span(start=start, end=start + 14)
    )
    shown = quote_cited(cite, colour=True)
    assert shown == f'    "Go to {BOLD}\\x1b[8mQuetta\\x1b[0m{NORMAL} now."'
    assert shown.count("\x1b") == 2


def test_a_span_outside_the_quote_is_not_shown() -> None:
    outside = msgspec.structs.replace(SPANNED, answer_span=Span(start=90, end=104))
    assert quote_cited(outside, colour=True) == quote_cited(SPANNED, colour=False)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("out", "env", "allowed"),
    [
        (Tty(), {"TERM": "xterm-256color"}, True),
        (Tty(), {}, True),
        (io.StringIO(), {"TERM": "xterm"}, False),  # piped or redirected
        (Tty(), {"NO_COLOR": "1", "TERM": "xterm"}, False),
        (Tty(), {"NO_COLOR": "", "TERM": "xterm"}, True),  # no-color.org: only a non-empty value counts
        (Tty(), {"TERM": "dumb"}, False),
    ],
)
def test_colour_only_on_a_terminal_that_takes_it(out: io.StringIO, env: dict[str, str], allowed: bool) -> None:
    assert colour_allowed(out, env) is allowed


def test_streamed_citations_are_bold_only_on_a_colour_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for out, bold in ((Tty(), True), (io.StringIO(), False)):
        print_stream(iter([TokenEvent(text="It reached Quetta. [2]"), FinalEvent(answer=_cited(SPANNED))]), out)
        assert (f"{BOLD}Quetta{NORMAL}" in out.getvalue()) is bold
