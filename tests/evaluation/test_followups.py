"""Follow-up sets: loading, asking turn by turn with the history, and the figures of the last answers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import DATA

from qa.base.errors import InvalidInput
from qa.base.records import Answer, Citation, Hit, Passage, Scores, Turn
from qa.evaluation.followups import FollowUp, evaluate_followups, holds_followups, load_followups

PASSAGE = "In 2023, 813 protests were recorded. In Quetta, 554 protests were held."


def _answer(question: str, text: str, quote: tuple[int, int]) -> Answer:
    hit = Hit(
        rank=1,
        passage=Passage(doc_id="d1", start=0, end=len(PASSAGE), text=PASSAGE),
        title="t",
        scores=Scores(dense=0.0, keyword=0.0, fused=0.0),
    )
    start, end = quote
    cite = Citation(n=1, doc_id="d1", title="t", start=start, end=end, quote=PASSAGE[start:end])
    return Answer(
        question=question,
        answerable=True,
        answer=text,
        confidence=0.5,
        reason=None,
        citations=(cite,),
        hits=(hit,),
        timings_ms={},
    )


FIRST = (0, 36)  # "In 2023, 813 protests were recorded."
SECOND = (37, len(PASSAGE))  # "In Quetta, 554 protests were held."
CONVO = FollowUp(
    id="c1",
    turns=["How many protests in 2023?", "And in Quetta?"],
    answers=["554"],
    doc="d1",
    evidence=["In Quetta, 554 protests were held"],
)


def test_each_turn_is_asked_with_the_turns_and_answers_before_it() -> None:
    seen: list[tuple[str, tuple[Turn, ...]]] = []

    def ask(question: str, history: Sequence[Turn]) -> Answer:
        seen.append((question, tuple(history)))
        quote = FIRST if not history else SECOND
        return _answer(question, PASSAGE[quote[0] : quote[1]] + " [1]", quote)

    report = evaluate_followups([CONVO], ask)
    assert seen == [
        ("How many protests in 2023?", ()),
        ("And in Quetta?", (Turn(role="user", text="How many protests in 2023?"),
                            Turn(role="assistant", text="In 2023, 813 protests were recorded. [1]"))),
    ]  # fmt: skip
    assert (report.conversations, report.answer_match, report.repeated, report.evidence_at_5) == (1, 1, 0, 1)
    assert report.misses == []


def test_an_answer_that_quotes_the_earlier_sentence_again_is_a_repeat_and_a_miss() -> None:
    report = evaluate_followups([CONVO], lambda q, h: _answer(q, "In 2023, 813 protests were recorded. [1]", FIRST))
    assert (report.answer_match, report.repeated, report.evidence_at_5) == (0, 1, 1)
    assert report.misses and report.misses[0].startswith("c1: How many protests in 2023? / And in Quetta? -> In 2023")


def test_the_dev_follow_ups_load_and_are_told_from_questions(tmp_path: Path) -> None:
    conversations = load_followups(DATA / "followups_dev.jsonl")
    assert len(conversations) == 6 and all(len(c.turns) == 2 and c.answers for c in conversations)
    assert holds_followups(DATA / "followups_dev.jsonl")
    assert not holds_followups(DATA / "dev_qa.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    assert not holds_followups(empty)


@pytest.mark.parametrize(
    ("content", "mentions"),
    [('{"id": "x", "turns": []}', "at least one turn"), ('{"id": "x"}', ":1: not a conversation"), ("", "no conv")],
)
def test_bad_follow_up_files_name_the_line(tmp_path: Path, content: str, mentions: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content + "\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=mentions):
        load_followups(path)
