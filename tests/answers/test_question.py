"""What a question asks for: answer types, typed sentences and the question's content terms."""

from __future__ import annotations

import pytest

from qa.answers.question import DATE, NUMBER, PERSON, answer_type, content_terms, has_type
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
        "Where did Bilawal Baloch go to university?",
        "BLA Taliban links",
    ],
)
def test_open_questions_have_no_type(question: str) -> None:
    assert answer_type(question) is None


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
