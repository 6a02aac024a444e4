"""Follow-ups made self-contained from the earlier turns, and answers that prefer sentences not quoted before."""

from __future__ import annotations

import pytest

from qa.answers.conversation import check_history, fresh, repeats, spoken, standalone
from qa.answers.question import NUMBER, answer_type
from qa.answers.signals import SENTENCE, Candidate
from qa.base.errors import InvalidInput
from qa.base.records import Hit, Passage, Scores, Turn
from qa.base.settings import AnswerSettings


def user(text: str) -> Turn:
    return Turn(role="user", text=text)


def assistant(text: str) -> Turn:
    return Turn(role="assistant", text=text)


def test_without_history_the_question_is_unchanged() -> None:
    assert standalone("Where did he graduate from?", []) == "Where did he graduate from?"


@pytest.mark.parametrize(
    ("earlier", "follow_up", "carried"),
    [
        ("Who is Bilawal Baloch?", "Where did he graduate from?", ["Bilawal", "Baloch"]),
        ("When was CPEC launched?", "What is its flagship project?", ["CPEC"]),
        ("How many protests were recorded in Balochistan in 2023?", "And how many of them were in Quetta?",
         ["protests", "Balochistan", "2023"]),
        ("Who led the fifth phase of Baloch resistance?", "When did that phase begin?", ["fifth", "resistance"]),
        ("What did the otter wardens find on the pier?", "Why were they there at night?", ["otter", "wardens"]),
        ("What is the Gwadar Port Authority?", "Who runs it?", ["Gwadar", "Port", "Authority"]),
    ],
)  # fmt: skip
def test_references_carry_the_earlier_subject(earlier: str, follow_up: str, carried: list[str]) -> None:
    resolved = standalone(follow_up, [user(earlier), assistant("Something the articles said. [1]")])
    assert resolved.startswith(follow_up)
    for word in carried:
        assert word in resolved.split(), (word, resolved)


@pytest.mark.parametrize(
    "question",
    [
        "What did the government say about the missing persons commission?",
        "What did Mahrang Baloch say about her arrest in Quetta?",  # "her" is the person the question names
        "Were there protests in Turbat in 2020?",  # "there" that states existence, not a place
        "Who said that the army must leave Balochistan?",  # "that" opens a clause
    ],
)
def test_self_contained_questions_are_unchanged(question: str) -> None:
    history = [user("Who is Bilawal Baloch?"), assistant("Comrade Bilawal is a Marxist from Quetta. [1]")]
    assert standalone(question, history) == question


def test_that_town_takes_the_place_the_earlier_answer_named() -> None:
    reply = (
        "In early 2025, the BYC held a massive protest rally in Dalbandin. [1]\n\nSources:\n[1] Long tale (000_f8c6)"
    )
    history = [user("Where did the BYC hold a big rally in early 2025?"), assistant(reply)]
    resolved = standalone("What happened in that town in August 2018?", history)
    assert "Dalbandin" in resolved.split()
    assert "Sources" not in resolved and "tale" not in resolved, "the sources list is not part of the answer"
    assert "BYC" not in resolved.split(), "what the earlier question named is not the town referred to"


def test_there_takes_the_place_the_earlier_answer_named() -> None:
    history = [user("Where was the new harbour built?"), assistant("The harbour was built at Pasni in 2019. [2]")]
    assert "Pasni" in standalone("What else happened there?", history).split()


def test_a_pronoun_after_a_who_question_takes_the_person_answered() -> None:
    history = [user("Who led the long march to Islamabad?"), assistant("The march was led by Mahrang Baloch. [1]")]
    resolved = standalone("When was she arrested?", history)
    assert {"Mahrang", "Baloch"} <= set(resolved.split()) and "march" in resolved


def test_an_ellipsis_without_a_question_word_takes_the_whole_earlier_question() -> None:
    earlier = "How many protests were recorded in Balochistan in 2023?"
    resolved = standalone("And in Quetta?", [user(earlier), assistant("813 protests. [1]")])
    assert resolved.startswith(earlier) and resolved.endswith("And in Quetta?")
    assert answer_type(resolved) == NUMBER, "the follow-up asks for what the earlier question asked for"


def test_a_chain_of_follow_ups_keeps_its_subject() -> None:
    history = [
        user("Who is Bilawal Baloch?"),
        assistant("Comrade Bilawal is a Marxist. [1]"),
        user("Where did he graduate from?"),
        assistant("He graduated from Balochistan University. [1]"),
    ]
    assert "Bilawal" in standalone("When was he abducted?", history).split()


def test_spoken_drops_markers_and_the_sources_list() -> None:
    said = spoken("In Quetta, 554 protests were held. [1] Others followed [2].\r\n\r\nSources:\r\n[1] A (x)\n[2] B (y)")
    assert said == "In Quetta, 554 protests were held. Others followed."


def _sentence(text: str, score: float, *, typed: bool = True, rank: int = 1) -> Candidate:
    """A candidate sentence that is the whole of its own passage."""
    passage = Passage(doc_id=f"d{rank}", start=100, end=100 + len(text), text=text)
    hit = Hit(rank=rank, passage=passage, title="t", scores=Scores(dense=None, keyword=None, fused=1.0))
    features = tuple(float(typed) if name == "typed_hit" else 0.0 for name in SENTENCE)
    return Candidate(hit=hit, row=rank, start=100, end=100 + len(text), text=text, features=features, score=score)


SAID = "In 2023, 813 protests were recorded across Balochistan. [1]"
OLD = _sentence("In 2023, 813 protests were recorded across Balochistan.", 1.1)
NEW = _sentence("In Quetta, 554 protests were held, followed by 70 in Turbat.", 1.0)
OTHER = _sentence("Huge protests have been held in many cities.", 0.7, typed=False, rank=2)


def test_fresh_moves_a_sentence_already_quoted_after_new_ones() -> None:
    history = [user("How many protests were recorded in Balochistan in 2023?"), assistant(SAID)]
    assert fresh([OLD, NEW, OTHER], history, "And how many of them were in Quetta?") == [NEW, OTHER, OLD]


def test_fresh_weighs_only_what_the_follow_up_newly_asks() -> None:
    history = [user("How many protests were recorded across Balochistan?"), assistant(SAID)]
    ranked = fresh([OLD, NEW, OTHER], history, "How many protests were recorded in Quetta?")
    assert ranked == [NEW, OTHER, OLD], "the words asked before do not keep the old sentence first"


def test_fresh_keeps_a_quoted_sentence_that_answers_the_follow_up_best() -> None:
    history = [user("How many protests were there?"), assistant(SAID)]
    ranked = fresh([OLD, NEW, OTHER], history, "Where were they recorded?")
    assert ranked == [OLD, NEW, OTHER], "only the quoted sentence holds what the follow-up newly asks"


def test_fresh_changes_nothing_without_earlier_answers() -> None:
    assert fresh([OLD, NEW], [user("How many protests?")], "And in Quetta?") == [OLD, NEW]


def test_repeats_ignores_case_and_spacing_but_not_other_words() -> None:
    earlier = ["in 2023 813 protests were recorded across balochistan in quetta 554 protests were held"]
    assert repeats("In 2023,  813 protests were\nrecorded across Balochistan.", earlier)
    assert not repeats("In 2023, 900 protests were recorded across Sindh.", earlier)
    assert not repeats("813 protests", ["in 2023 8813 protests"]), "words, not characters, are compared"


def test_repeats_finds_a_nearly_equal_sentence() -> None:
    earlier = ["the bla attacked a chinese convoy in dalbandin on 11 august 2018 with a suicide bomber"]
    assert repeats("On 11 August 2018 a suicide bomber of the BLA attacked a Chinese convoy in Dalbandin.", earlier)


def test_history_limits_name_the_setting() -> None:
    limits = AnswerSettings(max_history_turns=2, max_history_chars=30)
    assert check_history([user("a" * 10), assistant("b" * 20)], limits)
    with pytest.raises(InvalidInput, match=r"history has 3 turns; the limit is 2 \(QA_MAX_HISTORY_TURNS\)"):
        check_history([user("a"), assistant("b"), user("c")], limits)
    with pytest.raises(InvalidInput, match=r"history holds 31 characters; the limit is 30 \(QA_MAX_HISTORY_CHARS\)"):
        check_history([user("a" * 11), assistant("b" * 20)], limits)
    with pytest.raises(InvalidInput, match=r"history\[0\]\.role is 'system'; use one of user, assistant"):
        check_history([Turn(role="system", text="x")], limits)  # type: ignore[arg-type]
