"""Answer spans: the short answer to a question inside a sentence, per kind of question, and in real answers."""

from __future__ import annotations

import pytest
from conftest import DATA

from qa.answers.spans import answer_span, scored_span, span_in
from qa.base.terms import terms
from qa.evaluation.overlap import token_f1
from qa.evaluation.questions import UNANSWERABLE, Question, load_questions
from qa.service.engine import Engine

DEV = load_questions(DATA / "dev_qa.jsonl")


def shown(question: str, sentence: str) -> str | None:
    """The text of the answer span, or None."""
    found = answer_span(question, sentence)
    return None if found is None else sentence[found[0] : found[1]]


@pytest.mark.parametrize(
    ("question", "sentence", "answer"),
    [
        # who: a name that is not the question's, the agent after "by", the object after the verb
        (
            "Who founded the harbour museum?",
            "The harbour museum was founded in 1921 by Agnes Moore, a teacher.",
            "Agnes Moore",
        ),
        (
            "Whom did the council appoint as treasurer?",
            "Last month the council appointed Omar Farooq as treasurer.",
            "Omar Farooq",
        ),
        (
            "Who heads the BNP?",
            "parties like the BNP of Akhtar Mengal and others present in parliament",
            "Akhtar Mengal",
        ),
        # who, with no name: the noun group the question's number counts
        (
            "Who were the 12 people the police arrested?",
            "Police said they arrested 12 students after the rally.",
            "students",
        ),
        # when: a date, a year, a range
        ("When did the bridge reopen?", "The bridge reopened on 3 March 2024 after months of repairs.", "3 March 2024"),
        ("In what year was the dam completed?", "Work began in 1958 and the dam was completed in 1962.", "1962"),
        ("When did the strike take place?", "The dockworkers struck from 1911 to 1913 over pay.", "1911 to 1913"),
        # how many / much / long: the number with its unit or noun
        ("How much did the repairs cost?", "The repairs cost $4.5 million, the council said.", "$4.5 million"),
        ("How long did the strike last?", "The strike lasted six weeks and ended without a deal.", "six weeks"),
        ("How many families left the valley?", "Officials said 340 families left the valley last winter.", "340"),
        # where: a place after in/at/to/from..., the destination of "from X to Y", in apposition
        ("Where did the convoy stop?", "The convoy stopped in Khuzdar before dawn.", "Khuzdar"),
        (
            "Where was the caravan heading?",
            "The caravan set off from Gwadar to the provincial capital, Quetta.",
            "Quetta",
        ),
        (
            "Where did the caravan set off from?",
            "The caravan set off from Gwadar to the provincial capital, Quetta.",
            "Gwadar",
        ),
        ("In which city did the festival open?", "The festival opened in Multan with a parade.", "Multan"),
        # what / which: the noun group next to what the question names
        ("What tradition were the monks known for?", "At the abbey, a tradition of singing had developed.", "singing"),
        ("What was the ship called?", "The ship, later called the Northern Star, sank in 1911.", "Northern Star"),
    ],
)
def test_span_per_kind(question: str, sentence: str, answer: str) -> None:
    assert shown(question, sentence) == answer


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        ("Why did the strike end?", "The strike ended because the owners agreed to higher pay."),
        ("How did the villagers react?", "The villagers protested for a week."),
        ("When did the bridge reopen?", "The bridge reopened to traffic."),
        ("How many people came?", "Nobody knows who came."),
        ("Who led the march?", ""),
    ],
)
def test_no_span_when_nothing_answers(question: str, sentence: str) -> None:
    assert answer_span(question, sentence) is None


def test_what_the_question_already_says_is_never_the_answer() -> None:
    assert shown("When did the 2019 floods hit Quetta?", "The 2019 floods hit Quetta.") is None
    assert shown("Who did Agnes Moore marry?", "Agnes Moore married Omar Farooq in 1930.") == "Omar Farooq"
    assert shown("Where is Quetta?", "Quetta is the capital of Balochistan.") == "Balochistan"
    # a capitalised word the question spells in lower case stays part of the name
    assert shown("Where did she go to university?", "She graduated from Balochistan University in 2019.") == (
        "Balochistan University"
    )


@pytest.mark.parametrize("question", [q for q in DEV if q.type != UNANSWERABLE and q.evidence], ids=lambda q: q.id)
def test_spans_lie_inside_the_sentence_and_say_something_new(question: Question) -> None:
    sentence = question.evidence[0]
    found = scored_span(question.question, sentence)
    if found is None:
        return
    start, end, score = found
    text = sentence[start:end]
    assert 0 <= start < end <= len(sentence) and text == text.strip() and text[-1] not in ",;:"
    assert not set(terms(text)) <= set(terms(question.question)), (question.question, text)
    assert score > -1.0


def test_dev_evidence_spans_hold_the_gold_answer() -> None:
    # bench/answer_spans.py measures this (mean token F1 0.49 on the dev evidence when written); a floor, not a target.
    answerable = [q for q in DEV if q.type != UNANSWERABLE and q.evidence and q.answers]
    scores = []
    for q in answerable:
        found = answer_span(q.question, q.evidence[0])
        scores.append(token_f1(None if found is None else q.evidence[0][found[0] : found[1]], q.answers))
    assert sum(scores) / len(scores) >= 0.4
    assert sum(s == 1.0 for s in scores) >= 10


def test_span_in_gives_document_offsets() -> None:
    text = "Lead.\n\nThe convoy stopped in Khuzdar before dawn. Then it went on."
    start = text.index("The convoy")
    end = text.index(" Then")
    found = span_in("Where did the convoy stop?", text, start, end)
    assert found is not None and start <= found.start < found.end <= end
    assert text[found.start : found.end] == "Khuzdar"
    assert span_in("Why did the convoy stop?", text, start, end) is None


@pytest.mark.parametrize(
    "question",
    [
        "Who were the 214 people the BLA claimed to have killed?",
        "Where was the long march headed?",
        "Where did the BYC stage its big rally in early 2025?",
        "Who heads the BNP?",
        *[q.question for q in DEV if q.type != UNANSWERABLE][:12],
    ],
)
def test_engine_citations_carry_spans_inside_their_quotes(engine: Engine, question: str) -> None:
    answer = engine.ask(question)
    assert answer.answerable
    for citation in answer.citations:
        doc = engine.document(citation.doc_id)
        assert doc.text[citation.start : citation.end] == citation.quote
        found = citation.answer_span
        if found is not None:
            assert citation.start <= found.start < found.end <= citation.end
            assert doc.text[found.start : found.end] in citation.quote


def test_engine_answers_highlight_the_answer(engine: Engine) -> None:
    answer = engine.ask("Where did the BYC stage its big rally in early 2025?")
    (citation, *_) = answer.citations
    assert citation.answer_span is not None
    assert engine.document(citation.doc_id).text[citation.answer_span.start : citation.answer_span.end] == "Dalbandin"
