"""Cleaning on the real seeds: titles, bylines, dates, captions, share buttons and footers."""

from __future__ import annotations

import re

import pytest
from conftest import SEEDS

from qa.store.cleaning import BODY, BOILERPLATE, BYLINE, DATELINE, TITLE, Cleaned, clean


def seed(prefix: str) -> str:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def kinds(text: str, cleaned: Cleaned) -> list[tuple[str, str]]:
    return [(seg.kind, text[seg.start : seg.end]) for seg in cleaned.segments]


def body(text: str, cleaned: Cleaned) -> list[str]:
    return [piece for kind, piece in kinds(text, cleaned) if kind == BODY]


def normal(piece: str) -> str:
    return " ".join(re.findall(r"\w+", piece.lower()))


def test_000_title_captions_and_share_buttons() -> None:
    text = seed("000")
    cleaned = clean(text)
    assert cleaned.title == "Balochistan: a long tale of oppression and resistance – what is the solution?"
    segs = kinds(text, cleaned)
    assert segs[0] == (TITLE, cleaned.title)
    assert (BOILERPLATE, "Image: Baloch Yakjehti Committee, Twitter Share Tweet") in segs
    assert segs[2][1].startswith("The struggle of the Baloch people"), "the article starts right after the share row"
    assert segs[2][0] == BODY


def test_000_every_caption_is_boilerplate_and_its_sentence_is_kept_once() -> None:
    text = seed("000")
    cleaned = clean(text)
    captions = [m.start() for m in re.finditer(r" / Image: ", text)]
    assert len(captions) == 7
    body_sentences = body(text, cleaned)
    for offset in captions:
        seg = next(s for s in cleaned.segments if s.start <= offset < s.end)
        piece = text[seg.start : seg.end]
        assert seg.kind == BOILERPLATE, f"caption indexed as {seg.kind}: {piece!r}"
        assert len(piece.split(" / Image: ")[1].split()) <= 4, f"caption swallowed the next sentence: {piece!r}"
        captioned = normal(piece.split(" / Image: ")[0])
        holders = [b for b in body_sentences if captioned in normal(b)]
        assert len(holders) == 1, f"{captioned!r} kept {len(holders)} times as body"
    assert not any("Image:" in b for b in body_sentences)


def test_000_has_no_byline_or_date() -> None:
    cleaned = clean(seed("000"))
    assert cleaned.author is None
    assert cleaned.date is None


def test_002_markdown_heading_byline_and_date() -> None:
    text = seed("002")
    cleaned = clean(text)
    assert cleaned.title == (
        "Mass protests continue in Pakistan's Balochistan province over extra-judicial killings and other state crimes"
    )
    assert cleaned.author == "Dr. Zayar"
    assert cleaned.date == "2023-12-11"
    segs = kinds(text, cleaned)
    assert segs[:3] == [
        (TITLE, "# " + cleaned.title),
        (BYLINE, "**Dr. Zayar**"),
        (DATELINE, "**11 December 2023**"),
    ]
    assert segs[3][0] == BODY and segs[3][1].startswith("Mass protests have continued for almost three weeks")


def test_002_footer_and_link_line_are_not_body() -> None:
    text = seed("002")
    cleaned = clean(text)
    texts = body(text, cleaned)
    assert texts[-1].endswith("the Socialist United States of South Asia.")
    assert not any("To contact" in t or "wsws.org/contact" in t or "visit:" in t for t in texts)
    segs = kinds(text, cleaned)
    assert (BOILERPLATE, "**[wsws.org/contact](https://wsws.org/contact)**") in segs
    assert any(kind == BOILERPLATE and piece.startswith("To contact the WSWs") for kind, piece in segs)
    assert "Nov. 21, little more than 24 hours before" in " ".join(texts), "Nov. 21 does not end a sentence"


def test_003_join_us_block_and_click_here_are_not_body() -> None:
    text = seed("003")
    cleaned = clean(text)
    assert cleaned.title == "Pakistan: another Marxist is missing"
    texts = body(text, cleaned)
    assert "Lal Salaam!" in texts
    assert texts[-1] == "Lal Salaam!", "nothing of the 'Join us' block follows as body"
    joined = " ".join(texts)
    for footer in ("Join us", "fill in this form", "get back to you", "Click here"):
        assert footer not in joined
    assert texts[0].startswith("Comrade Bilawal Baloch from Quetta")
    # The body around the "Click here" line is one run before it and one after it.
    runs = cleaned.body_runs()
    assert text[runs[1][0][0] :].startswith("It seems that he has been abducted")


def test_004_subscribe_line_is_not_body() -> None:
    text = seed("004")
    cleaned = clean(text)
    segs = kinds(text, cleaned)
    assert (BOILERPLATE, "Thank you for reading this post, don't forget to subscribe!") in segs
    texts = body(text, cleaned)
    assert not any("subscribe" in t for t in texts)
    assert any(t.startswith("For years, Balochistan, which is rich in oil") for t in texts)
    assert texts[-1].endswith("further alienating the population.")


def test_001_is_all_body_with_no_metadata() -> None:
    text = seed("001")
    cleaned = clean(text)
    assert cleaned.title is None and cleaned.author is None and cleaned.date is None
    assert {seg.kind for seg in cleaned.segments} <= {BODY, TITLE}


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_segments_are_the_sentence_spans_in_order(prefix: str) -> None:
    text = seed(prefix)
    cleaned = clean(text)
    previous = 0
    for seg in cleaned.segments:
        assert previous <= seg.start < seg.end
        previous = seg.end
    runs = cleaned.body_runs()
    assert runs and all(runs)
    flat = [span for run in runs for span in run]
    assert flat == [(s.start, s.end) for s in cleaned.segments if s.kind == BODY]


def test_repeated_sentence_is_marked_duplicate() -> None:
    sentence = "The protesters marched from Turbat to Quetta over several long days."
    text = f"{sentence} Another sentence follows here.\n\n{sentence}"
    cleaned = clean(text)
    assert [seg.kind for seg in cleaned.segments] == [BODY, BODY, "duplicate"]


def test_short_repeats_are_not_duplicates() -> None:
    text = "Lal Salaam! We march on.\n\nLal Salaam!"
    assert [seg.kind for seg in clean(text).segments] == [BODY, BODY, BODY]


def test_by_line_is_an_author() -> None:
    text = "Protest in Quetta\n\nBy Jane Roe\n\nThousands marched in Quetta on Monday to demand answers."
    cleaned = clean(text)
    assert cleaned.author == "Jane Roe"
    assert cleaned.title == "Protest in Quetta"


def test_date_inside_a_sentence_is_not_a_dateline() -> None:
    text = "The march began on 11 December 2023 and reached Quetta a week later."
    cleaned = clean(text)
    assert cleaned.date is None
    assert [seg.kind for seg in cleaned.segments] == [BODY]


def test_empty_text() -> None:
    cleaned = clean("")
    assert cleaned.segments == () and cleaned.title is None and cleaned.body_runs() == []
