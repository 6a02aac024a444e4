"""Terminal rendering: corpus text that could drive the terminal (escapes, tabs, bidi overrides) is shown escaped."""

from __future__ import annotations

import io

import pytest

from qa.base.records import Answer, Citation, FinalEvent, Hit, Passage, Scores, TokenEvent
from qa.terminal.render import LINES, format_answer, print_stream, printable

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
