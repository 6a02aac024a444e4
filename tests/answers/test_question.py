"""What a question asks for: answer types, typed sentences and the question's content terms."""

from __future__ import annotations

import pytest

from qa.answers.question import DATE, NUMBER, PERSON, PLACE, Asked, answer_type, content_terms, has_type
from qa.base.terms import terms


@pytest.mark.parametrize(
    "question",
    [
        "Who led the march to Islamabad?",
        "whom did the police arrest in Quetta?",
        "Whose brother was killed in Turbat?",
        "Name the student shot dead by the Frontier Corps in front of his parents in 2020.",
        "Who heads the BNP?",
        "The march was led by whom?",
        "Who is quoted as saying society must choose between socialism and barbarism?",
    ],
)
def test_person_questions(question: str) -> None:
    assert answer_type(question) == PERSON


@pytest.mark.parametrize(
    "question",
    [
        "When was Balaach brought before the Anti-Terrorism Court?",
        "What year was Nawab Akbar Bugti killed?",
        "In what year did General Yahya Khan's decision halt the resistance?",
        "Which month did the sit-in end?",
        "Since when does Balaach's family say he had been missing?",
        "And when did the sit-in end?",
    ],
)
def test_date_questions(question: str) -> None:
    assert answer_type(question) == DATE


@pytest.mark.parametrize(
    "question",
    [
        "How many Baloch fighters were killed last year?",
        "How much did the state spend on the port?",
        "Pakistan population rank",
        "What is the unemployment rate in Balochistan?",
        "What is the average household income in Balochistan?",
        "Quetta protests 2023 count",
    ],
)
def test_number_questions(question: str) -> None:
    assert answer_type(question) == NUMBER


@pytest.mark.parametrize(
    "question",
    [
        "Why do Baloch armed fighters oppose Chinese investment?",
        "What did security forces do when Quetta protesters refused to leave?",
        "What happened to Nauroz Khan after he took up arms?",
        "What did they do where the river bends?",
        "Which state policies did the party reject?",
        "BLA Taliban links",
    ],
)
def test_open_questions_have_no_type(question: str) -> None:
    assert answer_type(question) is None


@pytest.mark.parametrize(
    "question",
    [
        "Where did Bilawal Baloch go to university?",
        "Where was the long march headed?",
        "Apart from Balochistan, where else in Pakistan are big mass movements under way?",
        "From where did the caravan set off?",
        "In what city did the festival open?",
        "Which country received the refugees?",
    ],
)
def test_place_questions(question: str) -> None:
    assert answer_type(question) == PLACE


def test_places_in_sentence_count_unless_the_question_has_them() -> None:
    question = "Where did the march end?"
    assert has_type(PLACE, "The march ended in Quetta after three weeks.", question)
    assert has_type(PLACE, "They walked from Turbat to the Press Club.", question)
    assert not has_type(PLACE, "The march ended in Quetta after three weeks.", "Where in Quetta did the march end?")
    assert not has_type(PLACE, "The march ended in silence after three weeks.", question), "lower case is no name"
    assert not has_type(PLACE, "Mahrang Baloch ended the march.", question), "a name with no place preposition"


@pytest.mark.parametrize(
    ("question", "side"),
    [
        ("Who founded the museum?", -1),  # the answer precedes "founded"
        ("What European event caused the war?", -1),
        ("Who did Emma marry?", 1),  # the answer follows "marry"
        ("Whom did the council appoint?", 1),
        ("What country did the Normans invade?", 1),
        ("Most of Balochistan belonged to which princely state?", 1),
        ("When was the dam completed?", 1),  # passive: "completed in 1962"
        ("Who was the Norse leader?", 0),
        ("What religion were the Normans?", 0),
    ],
)
def test_the_side_of_the_answer(question: str, side: int) -> None:
    assert Asked.of(question).side == side


def test_what_a_question_says_about_its_answer() -> None:
    asked = Asked.of("Who were the 214 people the BLA claimed to have killed?")
    assert asked.kind == PERSON and asked.plural and asked.figures == frozenset({"214"})
    assert Asked.of("Who did the monks flee with?").stranded == "with"
    assert Asked.of("How many seats did the SNP take?").counted == frozenset(terms("seats"))
    assert Asked.of("What trading company helped the settlers?").head == frozenset(terms("company"))
    assert Asked.of("What is the name of the first outpost?").head == frozenset(terms("name"))
    assert Asked.of("What did Baran develop?").head == frozenset()
    assert Asked.of("What were the converts known as?").naming
    assert not Asked.of("In what year was the dam completed?").figures, "a year is no count"


def test_date_wins_over_person_and_number() -> None:
    # "When" asks for a date even when the question also names a count or a person.
    assert answer_type("When did the number of protests rise?") == DATE
    assert answer_type("Who was arrested, and when was she released?") == DATE


@pytest.mark.parametrize(
    ("sentence", "question"),
    [
        ("Besides Bilawal, the other six comrades were abducted too.", "How many other comrades were abducted?"),
        ("Police recorded 554 protests across the province.", "How many protests were recorded?"),
        ("Pakistan is the fifth most populous country in the world.", "Pakistan population rank"),
        ("Hundreds of women joined the sit-in.", "How many women joined?"),
        ("Unemployment stood at 4.5% last spring.", "What is the unemployment rate?"),
    ],
)
def test_number_in_sentence_counts(sentence: str, question: str) -> None:
    assert has_type(NUMBER, sentence, question)


def test_number_already_in_the_question_does_not_count() -> None:
    question = "How many protests were there in 2023?"
    assert not has_type(NUMBER, "In 2023 there were protests in Quetta.", question)
    assert has_type(NUMBER, "In 2023 there were 554 protests in Quetta.", question)
    assert not has_type(NUMBER, "There were protests in Quetta and Turbat.", question)


def test_number_words_are_whole_words() -> None:
    # "tone", "often" and "someone" hold number words only as substrings.
    assert not has_type(NUMBER, "The tone was often set by someone else.", "How many were there?")


@pytest.mark.parametrize(
    "sentence",
    [
        "The court ordered the FIRs on Nov. 21 after a long hearing.",
        "The march reached Islamabad on 29 October after a long walk.",
        "The insurgency resumed in 1969 after the decision.",
        "The camps were set up in the 1970s near the border.",
        "The sit-in began in December 2023 and lasted weeks.",
        "He was killed on August 26 in the mountains.",
    ],
)
def test_dates_in_sentence_count(sentence: str) -> None:
    assert has_type(DATE, sentence, "When did it happen?")


def test_dates_that_are_not_dates() -> None:
    question = "When did it happen?"
    assert not has_type(DATE, "It happened a long time ago, after many protests.", question)
    assert not has_type(DATE, "He walked 300 kilometres to the capital.", question), "300 is no year"
    assert not has_type(DATE, "In May, everyone marched.", question), "a month without a day is not a date"
    assert not has_type(DATE, "The camps were set up in 1969.", "What happened in 1969?")


def test_person_names_count_unless_the_question_has_them() -> None:
    sentence = "Many women led the protests, especially Mahrang Baloch."
    assert has_type(PERSON, sentence, "Who led the protests?")
    assert not has_type(PERSON, sentence, "Who is Mahrang Baloch?")
    assert not has_type(PERSON, "many women led the protests in the city.", "Who led the protests?")


def test_capitalised_word_opening_a_sentence_is_no_name() -> None:
    # "Women And" at the start of the sentence is sentence case, not a name; one capital word is not a name.
    assert not has_type(PERSON, "Women And children marched to the city.", "Who marched?")
    assert not has_type(PERSON, "They marched with Mahrang.", "Who marched?")


def test_no_type_accepts_any_sentence() -> None:
    assert has_type(None, "Nothing typed here at all.", "Why did they march?")
    assert has_type(None, "", "Why?")


def test_content_terms_drop_framing_words_and_stopwords() -> None:
    got = content_terms("What did the article say about the quoted name of the student leader?")
    assert got == ["student", "leader"]
    for word in ("say", "name", "quoted", "article", "what", "the", "about"):
        assert not set(terms(word)) & set(got), word


def test_content_terms_keep_the_subject_in_order_and_stemmed() -> None:
    assert content_terms("Who is quoted as saying society must choose between socialism and barbarism?") == [
        t for t in terms("society must choose socialism barbarism")
    ]
    assert content_terms("Name the protests mentioned in Quetta") == ["protest", "quetta"]
    assert content_terms("What did they say?") == []
    assert content_terms("") == []
