"""Evaluate conversations: each turn asked with the turns before it, the last one scored for new, gold information."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import msgspec

from qa.base.errors import InvalidInput
from qa.base.records import Answer, Turn
from qa.evaluation.questions import answer_matches, contains_evidence

EVIDENCE_DEPTH = 5

Ask = Callable[[str, Sequence[Turn]], Answer]


class FollowUp(msgspec.Struct, frozen=True, kw_only=True):
    """One conversation of a follow-up set: its user turns, and the gold answers and evidence of the last one."""

    id: str
    turns: list[str]
    answers: list[str] = []
    doc: str | None = None
    evidence: list[str] = []
    type: str = "followup"


class FollowUpReport(msgspec.Struct, kw_only=True):
    """Aggregate figures of a follow-up set: how many last answers hold a gold answer, repeat an earlier answer's
    quoted sentence, and were drawn from retrieval that found the evidence in the top five passages."""

    conversations: int
    answer_match: int
    repeated: int
    evidence_at_5: int
    misses: list[str]


def holds_followups(path: Path) -> bool:
    """True when the first record of a JSON Lines file is a conversation (it has ``turns``)."""
    with path.open(encoding="utf-8") as lines:
        first = next((line for line in lines if line.strip()), "")
    try:
        record = msgspec.json.decode(first) if first else None
    except msgspec.DecodeError:
        return False
    return isinstance(record, dict) and "turns" in record


def load_followups(path: Path) -> list[FollowUp]:
    """Conversations from a JSON Lines file, with the line number of any bad line."""
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                record = msgspec.json.decode(line, type=FollowUp)
            except msgspec.DecodeError as exc:
                raise InvalidInput(f"{path}:{lineno}: not a conversation record ({exc})") from None
            if not record.turns:
                raise InvalidInput(f"{path}:{lineno}: a conversation needs at least one turn")
            out.append(record)
    if not out:
        raise InvalidInput(f"{path} has no conversations")
    return out


def converse(turns: Sequence[str], ask: Ask) -> list[Answer]:
    """Ask each turn in order with the earlier user turns and the answers they received as its history."""
    history: list[Turn] = []
    answers = []
    for text in turns:
        answer = ask(text, tuple(history))
        answers.append(answer)
        history += [Turn(role="user", text=text), Turn(role="assistant", text=answer.answer)]
    return answers


def evaluate_followups(conversations: Iterable[FollowUp], ask: Ask) -> FollowUpReport:
    """Run every conversation through ``ask`` and score its last answer."""
    n = matched = repeated = found = 0
    misses = []
    for convo in conversations:
        n += 1
        *earlier, last = converse(convo.turns, ask)
        quoted = {(c.doc_id, c.start, c.end) for a in earlier for c in a.citations}
        hit = last.answerable and answer_matches(last.answer, convo.answers)
        again = any((c.doc_id, c.start, c.end) in quoted for c in last.citations)
        matched += hit
        repeated += again
        found += any(
            h.passage.doc_id == convo.doc and any(contains_evidence(h.passage.text, ev) for ev in convo.evidence)
            for h in last.hits[:EVIDENCE_DEPTH]
        )
        if not hit:
            misses.append(f"{convo.id}: {' / '.join(convo.turns)} -> {' '.join(last.answer.split())}")
    return FollowUpReport(conversations=n, answer_match=matched, repeated=repeated, evidence_at_5=found, misses=misses)
