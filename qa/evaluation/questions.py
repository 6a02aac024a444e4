"""Evaluate retrieval and abstention on a question set with gold documents and verbatim evidence."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec
import numpy as np

from qa.base.errors import InvalidInput
from qa.base.records import Answer, Hit
from qa.evaluation.overlap import exact_match, token_f1

UNANSWERABLE = "unanswerable"
MULTI = "multi"
DEPTH = 10
_WORD = re.compile(r"\w+")


class Question(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a question set in the format of ``dev_qa.jsonl``."""

    id: str
    question: str
    type: str = "fact"
    answers: list[str] = []
    doc: str | None = None
    docs: list[str] | None = None
    evidence: list[str] = []

    @property
    def gold(self) -> list[tuple[str, str]]:
        """(document id, evidence) pairs; one evidence per document."""
        docs = self.docs or ([self.doc] if self.doc else [])
        return list(zip(docs, self.evidence, strict=False))


class Report(msgspec.Struct, kw_only=True):
    """Aggregate figures of one evaluation run."""

    questions: int
    answerable: int
    hit_at_1: float
    hit_at_5: float
    mrr_at_10: float
    multi_questions: int
    multi_coverage: float
    unanswerable: int
    abstention_accuracy: float
    answerable_abstained: int
    answer_match: float
    answered_unanswerable: int
    abstention_precision: float
    abstention_recall: float
    confidence_auc: float | None
    answer_sentence: float
    span_exact: float
    span_f1: float
    misses: list[str]


def load_questions(path: Path) -> list[Question]:
    """Questions from a JSON Lines file, with the line number of any bad line."""
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(msgspec.json.decode(line, type=Question))
            except msgspec.DecodeError as exc:
                raise InvalidInput(f"{path}:{lineno}: not a question record ({exc})") from None
    if not out:
        raise InvalidInput(f"{path} has no questions")
    return out


def _words(text: str) -> list[str]:
    """Lowercased word tokens."""
    return _WORD.findall(text.lower())


def contains_evidence(passage: str, evidence: str) -> bool:
    """True when most of the evidence's words appear in one contiguous run of the passage."""
    ev, words = _words(evidence), _words(passage)
    if not ev:
        return False
    best, prev = 0, [0] * (len(ev) + 1)
    for w in words:
        cur = [0] * (len(ev) + 1)
        for j, e in enumerate(ev, 1):
            if w == e:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best * 2 > len(ev)


def answer_matches(answer: str, gold: list[str]) -> bool:
    """True when the answer text contains one of the acceptable short answers (as words, case-insensitive)."""
    words = " " + " ".join(_words(answer)) + " "
    return any(" " + " ".join(_words(g)) + " " in words for g in gold if _words(g))


def hit_docs(question: Question, hit: Hit) -> set[str]:
    """The gold documents this retrieved passage satisfies (empty when it is not a hit)."""
    return {doc for doc, ev in question.gold if hit.passage.doc_id == doc and contains_evidence(hit.passage.text, ev)}


def evaluate(questions: Iterable[Question], ask: Callable[[str], Answer]) -> Report:
    """Run every question through ``ask`` and score passage hits and abstentions."""
    n = answerable = hit1 = hit5 = multi = covered = unanswerable = abstained = wrongly_abstained = matched_answers = 0
    sentence = 0
    span_em = span_f1 = 0.0
    rr = 0.0
    misses = []
    confidence: dict[bool, list[float]] = {True: [], False: []}
    for q in questions:
        n += 1
        result = ask(q.question)
        confidence[q.type != UNANSWERABLE].append(result.confidence)
        if q.type == UNANSWERABLE:
            unanswerable += 1
            abstained += not result.answerable
            continue
        answerable += 1
        wrongly_abstained += not result.answerable
        matched_answers += result.answerable and answer_matches(result.answer, q.answers)
        sentence += result.answerable and answer_sentence(result, q)
        if result.answerable:
            predicted = answer_span_text(result)
            span_em += exact_match(predicted, q.answers)
            span_f1 += token_f1(predicted, q.answers)
        matched = [hit_docs(q, h) for h in result.hits[:DEPTH]]
        first = next((i for i, m in enumerate(matched) if m), None)
        hit1 += first == 0
        hit5 += first is not None and first < 5
        rr += 1.0 / (first + 1) if first is not None else 0.0
        if first != 0:
            misses.append(f"{q.id} (first hit at {first + 1 if first is not None else '>10'}): {q.question}")
        if q.type == MULTI:
            multi += 1
            covered += {d for d, _ in q.gold} <= set().union(*matched[:5])
    return Report(
        questions=n,
        answerable=answerable,
        hit_at_1=_ratio(hit1, answerable),
        hit_at_5=_ratio(hit5, answerable),
        mrr_at_10=round(rr / answerable, 4) if answerable else 0.0,
        multi_questions=multi,
        multi_coverage=_ratio(covered, multi),
        unanswerable=unanswerable,
        abstention_accuracy=_ratio(abstained, unanswerable),
        answerable_abstained=wrongly_abstained,
        answer_match=_ratio(matched_answers, answerable),
        answered_unanswerable=unanswerable - abstained,
        abstention_precision=_ratio(abstained, abstained + wrongly_abstained),
        abstention_recall=_ratio(abstained, unanswerable),
        confidence_auc=roc_auc(confidence[True], confidence[False]),
        answer_sentence=_ratio(sentence, answerable),
        span_exact=round(span_em / answerable, 4) if answerable else 0.0,
        span_f1=round(span_f1 / answerable, 4) if answerable else 0.0,
        misses=misses,
    )


def answer_sentence(result: Answer, question: Question) -> bool:
    """True when the first sentence the answer quotes is a gold evidence sentence (most of its words, in a run)."""
    first = next(iter(result.citations), None)
    return first is not None and any(
        first.doc_id == doc and contains_evidence(first.quote, ev) for doc, ev in question.gold
    )


def answer_span_text(result: Answer) -> str | None:
    """The short answer the first citation marks inside its quote, or None when it marks none."""
    first = next(iter(result.citations), None)
    if first is None or first.answer_span is None:
        return None
    return first.quote[first.answer_span.start - first.start : first.answer_span.end - first.start]


def roc_auc(positive: list[float], negative: list[float]) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half); None without both."""
    if not positive or not negative:
        return None
    scores = np.asarray(positive + negative)
    ranks = _average_ranks(scores)
    wins = ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2
    return round(float(wins / (len(positive) * len(negative))), 4)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of the values, ties sharing their average rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _ratio(part: int, whole: int) -> float:
    """part / whole rounded, 0 when there is nothing to divide."""
    return round(part / whole, 4) if whole else 0.0
