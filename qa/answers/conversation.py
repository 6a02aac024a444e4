"""Conversations: a follow-up made self-contained from the earlier turns, and answers kept to what is new."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.answers.question import FRAME_WORDS, PERSON, answer_type, content_terms
from qa.answers.signals import Candidate
from qa.base.errors import InvalidInput
from qa.base.figures import names
from qa.base.records import ROLES, Turn
from qa.base.settings import AnswerSettings
from qa.base.terms import STOPWORDS, terms

FOLLOW_UP_TERMS = 3  # a question with fewer content terms than this leans on the conversation
SUBJECT_WORDS = 8  # most words of the earlier question carried into a follow-up
ANSWER_WORDS = 4  # most names and figures of the earlier answer carried for "that town", "there"
NEAR_COVERAGE = 0.9  # share of a sentence's terms an earlier answer must hold for the sentence to count as said
NEAR_TERMS = 5  # fewest terms a sentence needs to be judged by that share rather than by containment

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_MARKER = re.compile(r"\s*\[\d+\]")
_SOURCES = re.compile(r"\n\s*Sources:\s*\n.*\Z", re.S)
_PERSONAL = frozenset("he she him his her hers himself herself".split())
_IMPERSONAL = frozenset("it its itself they them their theirs themselves".split())
_DEMONSTRATIVE = re.compile(r"\b(that|this|those|these)\b(?:\s+([^\W\d_][\w'’-]*))?", re.I)
# Words after which "that" opens a clause ("said that the army..."), not a reference.
_CLAUSE_BEFORE = frozenset(
    "say says said saying claim claims claimed believe believes believed think thinks thought argue argues argued "
    "report reports reported show shows showed shown find finds found know knows knew known true fact so such now "
    "given mean means meant suggest suggests suggested state states stated note notes noted deny denies denied "
    "admit admits admitted announce announces announced insist insists insisted warn warns warned".split()
)
# Words after "that" that make it a clause opener ("that the", "that he"), not "that town".
_CLAUSE_AFTER = frozenset("the a an he she it they we i you his her their its our my there this these those".split())
_THERE = re.compile(r"\bthere\b", re.I)
_EXISTENTIAL = re.compile(
    r"\bthere\s+(?:is|are|was|were|be|been|has|have|had|will|would|seems?|remains?)\b|\b(?:is|are|was|were)\s+there\b",
    re.I,
)
_SAME = re.compile(r"\bthe same\b", re.I)
_ELLIPSIS = re.compile(r"^\W*(?:and|but|also|so|then|what about|how about)\b", re.I)
_ASKS = re.compile(
    r"\b(?:who|whom|whose|what|which|when|where|why|how)\b|"
    r"^\W*(?:is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|may|might)\b",
    re.I,
)
# A question about a name it gives ("Who is Bilawal Baloch?"), not one answered by a name ("Who led the march?").
_IDENTITY = re.compile(r"^\W*(?i:who\s+(?:is|was|are|were))\s+[A-Z]")


@dataclass(frozen=True)
class Reference:
    """What a question refers back to: the earlier question's subject, the earlier answer's names, or both."""

    subject: bool
    answer: bool


def standalone(question: str, history: Sequence[Turn]) -> str:
    """The question to retrieve for: a follow-up given the subject and names it refers back to; others unchanged.

    Each user turn is resolved against the turns before it, so a chain of follow-ups keeps its subject.
    """
    previous, reply = "", ""
    for turn in history:
        text = turn.text.strip()
        if not text:
            continue
        if turn.role == "user":
            previous, reply = resolve(text, previous, reply), ""
        else:
            reply = spoken(text)
    return resolve(question, previous, reply)


def resolve(question: str, previous: str, reply: str) -> str:
    """One follow-up resolved against the (resolved) question before it and the answer it received."""
    if not previous and not reply:
        return question
    refers = reference(question, previous)
    if refers is None:
        return question
    asked = set(terms(question))
    added = answer_words(reply, asked | set(terms(previous))) if refers.answer else []
    if refers.subject or not added:
        if not _ASKS.search(question) and previous:
            return " ".join([previous, question, *added])
        added = subject_words(previous, asked) + added
    return " ".join([question, *added])


def reference(question: str, previous: str) -> Reference | None:
    """What the question refers back to (None: it stands alone): pronouns, "that town", "there", "and ...?", brevity."""
    words = _WORD.findall(question)
    lower = [w.lower() for w in words]
    first_name = next((i for i, w in enumerate(words) if i > 0 and w[0].isupper()), len(words))
    # "he" after "Who led the march?" is the person the answer named; after "Who is Bilawal Baloch?", the one asked of
    person_answered = answer_type(previous) == PERSON and not _IDENTITY.search(previous)
    subject = answer = False
    for word in lower[:first_name]:  # a pronoun after a name of the question's own refers to that name
        if word in _PERSONAL | _IMPERSONAL:
            subject = True
            answer = answer or (word in _PERSONAL and person_answered)
    for match in _DEMONSTRATIVE.finditer(question):
        before = question[: match.start()].split()
        head = match.group(2)
        if (before and before[-1].lower().strip(",") in _CLAUSE_BEFORE) or (head and head[0].isupper()):
            continue
        if head and head.lower() in _CLAUSE_AFTER:
            continue
        if head and head.lower() not in STOPWORDS and set(terms(head)) & set(terms(previous)):
            subject = True
        else:
            answer = True
    if _THERE.search(question) and not _EXISTENTIAL.search(question):
        answer = True
    if _SAME.search(question):
        answer = True
    if _ELLIPSIS.search(question) or len(content_terms(question)) < FOLLOW_UP_TERMS:
        subject = True
    return Reference(subject=subject, answer=answer) if subject or answer else None


def subject_words(previous: str, asked: set[str]) -> list[str]:
    """The words of the earlier question that name its subject, in order, without those the follow-up has."""
    out: list[str] = []
    seen = set(asked)
    for i, word in enumerate(_WORD.findall(previous)):
        stems = terms(word)
        named = i > 0 and word[0].isupper()  # a name is kept even when it stems like a framing word ("Authority")
        if stems and (named or stems[0] not in FRAME_WORDS) and stems[0] not in seen:
            seen.add(stems[0])
            out.append(word)
    return out[:SUBJECT_WORDS]


def answer_words(reply: str, known: set[str]) -> list[str]:
    """The names and figures an earlier answer brought in (not already asked about), in order of appearance."""
    named = names(reply)
    out: list[str] = []
    seen = set(known)
    for word in _WORD.findall(reply):
        if word.lower() not in named and not any(c.isdigit() for c in word):
            continue
        stems = terms(word)
        if stems and stems[0] not in seen:
            seen.add(stems[0])
            out.append(word)
    return out[:ANSWER_WORDS]


def spoken(answer: str) -> str:
    """An assistant turn's text as said: without ``[n]`` markers and the sources list a chat reply ends with."""
    return _MARKER.sub("", _SOURCES.sub("", answer)).strip()


def fresh(candidates: list[Candidate], history: Sequence[Turn], question: str) -> list[Candidate]:
    """The candidates, with each sentence an earlier answer already quoted moved after the others unless no new
    sentence answers the follow-up better: holds more of what it newly asks (its content terms that no earlier
    question had), then the kind of answer it asks for.
    """
    said = [_flat(spoken(turn.text)) for turn in history if turn.role == "assistant"]
    if not said:
        return candidates
    asked_before = {t for turn in history if turn.role == "user" for t in terms(turn.text)}
    new_terms = set(content_terms(question)) - asked_before
    match = {id(s): (len(new_terms & set(terms(s.text))), s.typed) for s in candidates}
    repeated = {id(s) for s in candidates if repeats(s.text, said)}
    best_new = max((match[id(s)] for s in candidates if id(s) not in repeated), default=(0, False))
    stale = {i for i in repeated if match[i] < best_new}
    return [s for s in candidates if id(s) not in stale] + [s for s in candidates if id(s) in stale]


def repeats(sentence: str, earlier: Sequence[str]) -> bool:
    """True when the sentence is contained in (or nearly equal to) one of the earlier answers (flattened)."""
    flat = _flat(sentence)
    if not flat:
        return False
    if any(f" {flat} " in f" {e} " for e in earlier):
        return True
    own = set(terms(sentence))
    return len(own) >= NEAR_TERMS and any(len(own & set(terms(e))) >= NEAR_COVERAGE * len(own) for e in earlier)


def _flat(text: str) -> str:
    """Lowercased words joined by single spaces: what two texts share when only spacing and case differ."""
    return " ".join(_WORD.findall(text.lower()))


def check_history(history: Sequence[Turn], limits: AnswerSettings) -> tuple[Turn, ...]:
    """The history as given, or InvalidInput saying what is wrong (a role, too many turns, too much text)."""
    for i, turn in enumerate(history):
        if turn.role not in ROLES:
            raise InvalidInput(f"history[{i}].role is {turn.role!r}; use one of {', '.join(ROLES)}")
    if len(history) > limits.max_history_turns:
        raise InvalidInput(
            f"history has {len(history)} turns; the limit is {limits.max_history_turns} "
            "(QA_MAX_HISTORY_TURNS): send only the latest turns"
        )
    chars = sum(len(turn.text) for turn in history)
    if chars > limits.max_history_chars:
        raise InvalidInput(
            f"history holds {chars} characters; the limit is {limits.max_history_chars} "
            "(QA_MAX_HISTORY_CHARS): send fewer or shorter turns"
        )
    return tuple(history)
