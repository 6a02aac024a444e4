"""Answer spans against gold short answers: exact match and token F1 by kind of question, in seconds, no index.

For every answerable question (not ``unanswerable``) of a question set in the format of ``dev_qa.jsonl`` whose
first evidence is given, ``qa.answers.spans.answer_span(question, evidence)`` picks the short answer inside the
evidence sentence; it is scored as SQuAD does (``qa.evaluation.overlap``) against the question's ``answers``. A
question without a predicted span scores 0. Kinds: ``answer_type`` (person, date, number, place), else the
question word (what, which, why, how, other). Defaults: the SQuAD 2.0 half in ../shared/bench/squad2 and the dev set.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

from qa.answers.question import answer_type
from qa.answers.spans import answer_span
from qa.evaluation.overlap import exact_match, token_f1
from qa.evaluation.questions import UNANSWERABLE, Question, load_questions

ROOT = Path(__file__).resolve().parent.parent
# ../shared next to the checkout (or next to a folder of worktrees)
SHARED = next((p / "shared" for p in ROOT.parents if (p / "shared" / "bench").is_dir()), ROOT.parent / "shared")
SETS = [SHARED / "bench" / "squad2" / "qa.jsonl", SHARED / "eval" / "dev_qa.jsonl"]
_WH = re.compile(r"\b(what|which|why|how)\b", re.I)


def kind(question: str) -> str:
    """The kind a question is reported under."""
    typed = answer_type(question)
    if typed is not None:
        return typed
    found = _WH.search(question)
    return found.group(1).lower() if found else "other"


def score(questions: list[Question], show: str | None) -> dict[str, list[tuple[float, float, bool]]]:
    """(exact match, F1, answered) per question, grouped by kind; ``show`` prints the misses of one kind."""
    rows: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    for q in questions:
        if q.type == UNANSWERABLE or not q.evidence or not q.answers:
            continue
        text = q.evidence[0]
        span = answer_span(q.question, text)
        predicted = None if span is None else text[span[0] : span[1]]
        em, f1 = exact_match(predicted, q.answers), token_f1(predicted, q.answers)
        group = kind(q.question)
        rows[group].append((em, f1, span is not None))
        if show in (group, "all") and em < 1:
            print(f"{f1:.2f} {q.question!r} -> {predicted!r} | gold {q.answers[:2]} | {text[:160]!r}")
    return rows


def table(name: str, rows: dict[str, list[tuple[float, float, bool]]]) -> str:
    """Questions, share answered, exact match, mean F1, and F1 over answered questions, per kind and overall."""
    lines = [name, f"  {'kind':<8}{'n':>6}{'answered':>10}{'EM':>8}{'F1':>8}{'F1 answered':>13}"]
    everything = [r for group in rows.values() for r in group]
    for group, items in [*sorted(rows.items(), key=lambda kv: -len(kv[1])), ("all", everything)]:
        n = len(items)
        answered = [f1 for _, f1, a in items if a]
        lines.append(
            f"  {group:<8}{n:>6}{len(answered) / n:>10.3f}{sum(em for em, _, _ in items) / n:>8.3f}"
            f"{sum(f1 for _, f1, _ in items) / n:>8.3f}{(sum(answered) / len(answered) if answered else 0.0):>13.3f}"
        )
    return "\n".join(lines)


def main() -> None:
    """Score each question set and print its table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="*", type=Path, default=SETS)
    ap.add_argument("--show", help="print the misses of one kind (or all)")
    args = ap.parse_args()
    for path in args.sets:
        print(table(path.name, score(load_questions(path), args.show)))


if __name__ == "__main__":
    main()
