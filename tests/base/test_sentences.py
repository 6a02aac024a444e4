"""Sentence spans: exact offsets into the text, glued sentences split, abbreviations kept whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SEEDS

from qa.base.sentences import Span, split_sentences

SEED_FILES = sorted(SEEDS.iterdir())


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def assert_exact_spans(text: str, spans: list[Span]) -> None:
    """Each span is a stripped, non-empty slice; spans are ordered and do not overlap."""
    previous_end = 0
    for start, end in spans:
        assert 0 <= start < end <= len(text)
        piece = text[start:end]
        assert piece == piece.strip() and piece
        assert start >= previous_end, f"span {start, end} overlaps or precedes the one ending at {previous_end}"
        previous_end = end


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [
        pytest.param(
            "In response, even more people joined the protests.Women and children have joined in large numbers.",
            "In response, even more people joined the protests.",
            "Women and children have joined in large numbers.",
            id="period-glued",
        ),
        pytest.param(
            "They called it a just cause.”He continues to defend it.",
            "They called it a just cause.”",
            "He continues to defend it.",
            id="closing-quote-glued",
        ),
        pytest.param(
            "The Baloch national question and armed struggleNumerous books have been written on it.",
            "The Baloch national question and armed struggle",
            "Numerous books have been written on it.",
            id="heading-glued",
        ),
        pytest.param(
            "Second Phase (1958-59)Tribal leader Nawab Nauroz Khan Zehri led a rebellion.",
            "Second Phase (1958-59)",
            "Tribal leader Nawab Nauroz Khan Zehri led a rebellion.",
            id="bracket-glued",
        ),
        pytest.param(
            "The changing landscape of Baloch society after 2018In November 2018, Seema Baloch spoke out.",
            "The changing landscape of Baloch society after 2018",
            "In November 2018, Seema Baloch spoke out.",
            id="year-glued",
        ),
        pytest.param(
            "It led to the formation of the Baloch Solidarity Committee (BYC).Between 2020 and 2024, protests grew.",
            "It led to the formation of the Baloch Solidarity Committee (BYC).",
            "Between 2020 and 2024, protests grew.",
            id="acronym-in-brackets-glued",
        ),
    ],
)
def test_glued_sentences_split_without_rewriting(text: str, first: str, second: str) -> None:
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == [first, second]
    assert spans[1][0] == len(first), "the boundary is right after the first sentence, no character added or lost"
    assert spans[0] == (0, len(first))


@pytest.mark.parametrize(
    "text",
    [
        "The article is by Dr. Zayar of the WSWS and was published in December.",
        "General Zia declared martial law in 1977 and deposed Z.A. Bhutto in the same year.",
        "Even though on Nov. 21 the victim had been brought before a court, he was killed.",
        "The U.S. officials declined to comment on the killings in Turbat.",
        "Many U.S. Officials declined to comment on the killings in Turbat.",
        "Resources, e.g. gas and copper, are plundered by the state.",
    ],
)
def test_abbreviations_and_initials_do_not_split(text: str) -> None:
    assert sentences(text) == [text]


def test_abbreviation_in_running_text_keeps_real_boundaries() -> None:
    text = "Dr. Zayar wrote it on Nov. 21. Z.A. Bhutto was deposed. U.S. officials said nothing."
    assert sentences(text) == [
        "Dr. Zayar wrote it on Nov. 21.",
        "Z.A. Bhutto was deposed.",
        "U.S. officials said nothing.",
    ]


def test_spaced_terminal_punctuation_splits() -> None:
    text = 'Is repression total? No! The movement grew. "We will march," they said.'
    assert sentences(text) == ["Is repression total?", "No!", "The movement grew.", '"We will march," they said.']


def test_paragraph_break_is_a_boundary() -> None:
    text = "A heading without a period\n\nthe next paragraph starts in lower case\n \n\nand a third one"
    spans = split_sentences(text)
    assert sentences(text) == [
        "A heading without a period",
        "the next paragraph starts in lower case",
        "and a third one",
    ]
    assert_exact_spans(text, spans)


def test_short_line_is_a_boundary_but_wrapped_prose_is_not() -> None:
    wrapped = (
        "This is a long line of prose that wraps because the writer used hard line breaks in\n"
        "the middle of the sentence and it continues here."
    )
    assert sentences(wrapped) == [wrapped]
    text = "Join us\nIf you want more information, fill in this form."
    assert sentences(text) == ["Join us", "If you want more information, fill in this form."]


def test_offsets_are_absolute_within_a_range() -> None:
    text = "Ignore this. Keep this one. And this one. Not this."
    start = text.index("Keep")
    end = text.index("Not")
    spans = split_sentences(text, start, end)
    assert [text[s:e] for s, e in spans] == ["Keep this one.", "And this one."]
    assert spans[0][0] == start


def test_blank_text_has_no_spans() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\n\t \n") == []


def test_surrounding_whitespace_is_trimmed() -> None:
    text = "   \n  First sentence here.   Second one.  \n\n  "
    spans = split_sentences(text)
    assert_exact_spans(text, spans)
    assert sentences(text) == ["First sentence here.", "Second one."]


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name[:3])
def test_seed_spans_are_exact_and_cover_every_character(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    spans = split_sentences(text)
    assert spans
    assert_exact_spans(text, spans)
    covered = bytearray(len(text))
    for start, end in spans:
        covered[start:end] = b"\1" * (end - start)
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missing, f"characters outside every span: {[text[i - 10 : i + 10] for i in missing[:3]]}"


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name[:3])
def test_seed_spans_never_contain_a_paragraph_break(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for start, end in split_sentences(text):
        assert "\n\n" not in text[start:end]


def test_seed_glued_boundaries_are_found() -> None:
    text = (SEEDS / "000_f8c65552ac3faefe.txt").read_text(encoding="utf-8")
    starts = {s for s, _ in split_sentences(text)}
    for glued, offset in [
        ("protests.Women", len("protests.")),
        ("struggleNumerous", len("struggle")),
        ("(1958-59)Tribal", len("(1958-59)")),
        ("after 2018In November", len("after 2018")),
        ("Bhutto.Fifth", len("Bhutto.")),
        ("(BYC).Between", len("(BYC).")),
    ]:
        assert text.index(glued) + offset in starts, glued
    # "Z.A. Bhutto" stays inside one sentence.
    assert text.index("Bhutto") not in starts
