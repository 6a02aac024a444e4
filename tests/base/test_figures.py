"""Figures, dates and names: the one month and number-word vocabulary, and the parsers built on it."""

from __future__ import annotations

from pathlib import Path

import pytest

import qa
from qa.base.figures import (
    COUNTING_WORDS,
    FIGURE_WORDS,
    MONTHS,
    NUMBER_WORDS,
    figures,
    month_name,
    names,
    parse_date,
)


def test_figures_and_names() -> None:
    assert figures("In 1969, 25 districts and 1,200 people; 10%") == {"1969", "25", "1200", "10", "percent"}
    assert figures("twenty-five men on Nov. 21, the fifth attack") == {"25", "21", "November", "5"}
    assert figures("They may go; no one knows, for the first time") == set()
    assert figures("in May 2023") == {"May", "2023"}
    assert figures("Sept. 3 and 4 May, ninety-nine") == {"September", "3", "4", "May", "99"}
    assert names("In 2025, the BYC held a rally in Dalbandin. Officials in Quetta's centre") == {
        "byc",
        "dalbandin",
        "quetta",
    }


def test_number_words_and_their_two_uses() -> None:
    assert NUMBER_WORDS["one"] == 1 and NUMBER_WORDS["nineteen"] == 19 and NUMBER_WORDS["ninety"] == 90
    assert NUMBER_WORDS["first"] == 1 and NUMBER_WORDS["tenth"] == 10
    # The figure check leaves out words that rarely state a figure ("no one", "for the first time").
    assert set(NUMBER_WORDS) - set(FIGURE_WORDS) == {"one", "first", "second"}
    assert all(FIGURE_WORDS[w] == v for w, v in NUMBER_WORDS.items() if w in FIGURE_WORDS)
    # Question typing counts every cardinal and ordinal ("seventeen otters" answers "how many"), and counting words.
    assert set(NUMBER_WORDS) <= COUNTING_WORDS and {"seventeen", "ninety", "dozens", "half"} <= COUNTING_WORDS


def test_month_name() -> None:
    assert [month_name(t) for t in ("Dec.", "sept", "MAY", "january")] == ["December", "September", "May", "January"]
    assert [month_name(m[:3].lower()) for m in MONTHS] == list(MONTHS)


def test_month_names_and_number_words_are_defined_once() -> None:
    root = Path(qa.__file__).parent
    here = root / "base" / "figures.py"
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8").lower()
        if path != here:
            assert "february" not in text and "nineteen" not in text, path


@pytest.mark.parametrize(
    ("piece", "iso"),
    [
        ("11 December 2023", "2023-12-11"),
        ("11 Dec 2023", "2023-12-11"),
        ("December 11, 2023", "2023-12-11"),
        ("december 11 2023", "2023-12-11"),
        ("2023-12-11", "2023-12-11"),
        ("2023-12-11T09:30:00Z", "2023-12-11"),
        ("Dec. 5, 2020", "2020-12-05"),
        ("Sept. 30, 2021", "2021-09-30"),
        ("**11 December 2023**", "2023-12-11"),
        ("  5 May 2019 ", "2019-05-05"),
    ],
)
def test_parse_date_formats(piece: str, iso: str) -> None:
    assert parse_date(piece) == iso


@pytest.mark.parametrize(
    "piece",
    [
        "",
        "Dr. Zayar",
        "December",
        "2023",
        "On 11 December 2023 protests began",
        "11 December",
        "2023-13-01",
        "32 December 2023",
        "Decimal 11, 2023",
    ],
)
def test_parse_date_rejects_non_dates(piece: str) -> None:
    assert parse_date(piece) is None
