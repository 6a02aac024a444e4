"""Plain-text rendering of answers and evaluation reports for the terminal."""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, TextIO

from qa.base.records import Answer, Citation, Event, FinalEvent, TokenEvent
from qa.service.evaluation import FollowUpReport, Report
from qa.service.wire import Explain

if TYPE_CHECKING:
    from qa.service.evaluation import BeirResult

QUOTE_CHARS = 300
JOINERS = frozenset("\u200c\u200d")  # zero-width non-joiner and joiner: ordinary in Urdu, Persian and emoji text
LINES = "\n\t"
BOLD, NORMAL = "\x1b[1m", "\x1b[22m"  # SGR bold on, and back to normal intensity
_SPACES = re.compile(r"\s+")


def printable(text: str, keep: str = "") -> str:
    """The text with control, invisible-format and line-separator characters escaped as Python does (``\\x1b``).

    Titles, ids and authors come from the corpus: escaped, none can move the cursor, recolour the terminal,
    reorder the line or break a tab-separated row. ``keep`` names characters to leave as they are (``LINES``).
    """
    return "".join(c if c in keep or not _unsafe(c) else c.encode("unicode_escape").decode("ascii") for c in text)


def _unsafe(char: str) -> bool:
    """True for a character that acts on the terminal instead of showing: category C, line and paragraph breaks."""
    category = unicodedata.category(char)
    return (category[0] == "C" or category in ("Zl", "Zp")) and char not in JOINERS


def quote(text: str, limit: int | None = None) -> str:
    """Text on one line, shortened to ``limit`` characters, in quotes and indented."""
    flat = " ".join(text.split())
    if limit is not None and len(flat) > limit:
        flat = flat[:limit].rsplit(" ", 1)[0] + " …"
    return f'    "{printable(flat)}"'


def colour_allowed(out: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """True when ``out`` is a terminal that takes colour: a tty, ``NO_COLOR`` unset or empty, ``TERM`` not ``dumb``."""
    env = os.environ if env is None else env
    isatty = getattr(out, "isatty", None)
    return bool(isatty is not None and isatty()) and not env.get("NO_COLOR") and env.get("TERM") != "dumb"


def quote_cited(citation: Citation, colour: bool = False) -> str:
    """A citation's quote as ``quote`` shows it; with ``colour``, its answer span in bold (escaped text in between)."""
    found = citation.answer_span
    if not colour or found is None or not citation.start <= found.start < found.end <= citation.end:
        return quote(citation.quote)
    lo, hi = found.start - citation.start, found.end - citation.start
    text = citation.quote
    before, span, after = (_SPACES.sub(" ", part) for part in (text[:lo], text[lo:hi], text[hi:]))
    shown = f"{printable(before.lstrip())}{BOLD}{printable(span)}{NORMAL}{printable(after.rstrip())}"
    return f'    "{shown}"'


def format_answer(result: Answer, colour: bool = False) -> str:
    """The human-readable form of an answer: text, then numbered citations or the closest passages."""
    head = printable(result.answer if result.answerable else _no_answer(result), LINES)
    return head + "\n" + format_sources(result, colour)


def _no_answer(result: Answer) -> str:
    """The abstention line: the reply, why, and how sure."""
    return f"No answer. {result.answer} ({_why(result)})"


def _why(result: Answer) -> str:
    """Why an answer was withheld and how sure the service was: ``reason: no relevant passage; confidence 0.12``."""
    return f"reason: {(result.reason or 'unknown').replace('_', ' ')}; confidence {result.confidence:.2f}"


def format_sources(result: Answer, colour: bool = False) -> str:
    """What follows the answer text: its citations (checked) and notes, or the closest passages on abstention.

    With ``colour`` each quote shows its answer span in bold.
    """
    lines: list[str] = []
    if result.answerable:
        lines += ["", "Citations:"]
        for c in result.citations:
            verdict = "" if c.supported else "  (NOT supported by this passage)"
            where = f"{printable(c.title)} ({printable(c.doc_id)}, chars {c.start}-{c.end})"
            lines += [f"[{c.n}] {where}{verdict}", quote_cited(c, colour)]
        if result.invalid_citations:
            removed = ", ".join(f"[{n}]" for n in result.invalid_citations)
            lines += [f"Removed citations to passages that do not exist: {removed}"]
        if result.model != "extractive" and not result.grounded:
            lines += [f"Warning: the {result.model} answer is not grounded: some claims lack a supporting citation."]
    elif result.hits:
        lines += ["", "Closest passages:"]
        for h in result.hits:
            p = h.passage
            where = f"{printable(h.title)} ({printable(p.doc_id)}, chars {p.start}-{p.end})"
            lines += [f"[{h.rank}] {where}", quote(p.text, QUOTE_CHARS)]
    if result.flagged_passages:
        flagged = ", ".join(f"[{n}]" for n in result.flagged_passages)
        lines += [f"Passages fenced as possible instructions to a model: {flagged}"]
    return "\n".join(lines)


def format_scores(result: Answer, info: Explain) -> str:
    """The settings behind the scores, then one line of scores per retrieved passage (``-``: not scored)."""
    lines = [
        f"Scores (fusion {info.fusion}, dense_weight {info.dense_weight:g}, keyword_weight {info.keyword_weight:g}, "
        f"sentence_weight {info.sentence_weight:g}, "
        f"rrf_k {info.rrf_k}, candidates {info.candidates}, bm25 k1 {info.bm25_k1:g} b {info.bm25_b:g}, reranker "
        f"{info.reranker or 'off'}; model {info.model} ({info.embed_backend}), index {info.index_generation}):"
    ]
    for h in result.hits:
        s = h.scores
        lines.append(
            f"[{h.rank}] {printable(h.passage.doc_id)} chars {h.passage.start}-{h.passage.end}: fused {s.fused:.4f}  "
            f"dense {_score(s.dense)}  keyword {_score(s.keyword)}  sentence {_score(s.sentence)}  "
            f"rerank {_score(s.rerank)}"
        )
    return "\n".join(lines)


def _score(value: float | None) -> str:
    """A score with four decimals, or ``-`` when there is none."""
    return "-" if value is None else f"{value:.4f}"


def format_report(report: Report) -> str:
    """The evaluation figures as an aligned two-column table."""
    rows = [
        ("questions", f"{report.questions} ({report.answerable} answerable, {report.unanswerable} unanswerable)"),
        ("hit@1", f"{report.hit_at_1:.3f}"),
        ("hit@5", f"{report.hit_at_5:.3f}"),
        ("MRR@10", f"{report.mrr_at_10:.3f}"),
        ("multi-source coverage", f"{report.multi_coverage:.3f}  (n={report.multi_questions})"),
        ("abstention accuracy", f"{report.abstention_accuracy:.3f}  (n={report.unanswerable} unanswerable)"),
        ("answerable abstained", f"{report.answerable_abstained} of {report.answerable}"),
        (
            "decision",
            f"answerable: {report.answerable - report.answerable_abstained} answered, "
            f"{report.answerable_abstained} abstained; unanswerable: {report.answered_unanswerable} answered, "
            f"{report.unanswerable - report.answered_unanswerable} abstained",
        ),
        (
            "abstention P / R",
            f"{report.abstention_precision:.3f} / {report.abstention_recall:.3f}  (precision, recall of abstaining)",
        ),
        ("confidence ROC AUC", "n/a" if report.confidence_auc is None else f"{report.confidence_auc:.3f}"),
        ("answer holds gold", f"{report.answer_match:.3f}  (extractive answer contains a gold short answer)"),
        ("answer sentence", f"{report.answer_sentence:.3f}  (first quoted sentence is the gold evidence)"),
        ("answer span", f"EM {report.span_exact:.3f}, F1 {report.span_f1:.3f}  (short answer marked in the quote)"),
    ]
    return "\n".join(f"{name:<24}{value}" for name, value in rows)


def format_followups(report: FollowUpReport, *, verbose: bool = False) -> str:
    """The follow-up figures as an aligned two-column table; ``verbose`` lists the conversations missed."""
    n = report.conversations
    rows = [
        ("conversations", str(n)),
        ("answer holds gold", f"{_share(report.answer_match, n)}  (last answer contains a gold short answer)"),
        ("repeats an earlier quote", f"{_share(report.repeated, n)}  (last answer quotes a sentence quoted before)"),
        ("evidence in top 5", _share(report.evidence_at_5, n)),
    ]
    lines = [f"{name:<26}{value}" for name, value in rows]
    if verbose and report.misses:
        lines += [f"\nmissed ({len(report.misses)}):", *(f"  {printable(miss)}" for miss in report.misses)]
    return "\n".join(lines)


def _share(part: int, whole: int) -> str:
    """``part of whole (ratio)``."""
    return f"{part} of {whole} ({part / whole if whole else 0.0:.3f})"


def format_benchmark(result: BeirResult) -> str:
    """BEIR metrics, corpus size and timings as an aligned two-column table."""
    rows = [(name, str(value)) for name, value in result.metrics.items()]
    rows += [
        ("documents / passages", f"{result.documents} / {result.passages}"),
        ("seconds", f"index {result.seconds['index']}, search {result.seconds['search']}"),
    ]
    return "\n".join(f"{name:<24}{value}" for name, value in rows)


def print_stream(events: Iterator[Event], out: TextIO | None = None, colour: bool | None = None) -> Answer:
    """Print an answer as it arrives, then its citations (or the closest passages); return the final answer.

    ``colour`` (default: ``colour_allowed(out)``) shows each quote's answer span in bold.
    """
    out = out or sys.stdout
    colour = colour_allowed(out) if colour is None else colour
    result: Answer | None = None
    printed = False
    try:
        for event in events:
            if isinstance(event, TokenEvent) and event.text:
                print(printable(event.text, LINES), end="", flush=True, file=out)
                printed = True
            elif isinstance(event, FinalEvent):
                result = event.answer
    finally:
        if printed:
            print(flush=True, file=out)
    if result is None:
        raise RuntimeError("the answer stream ended without its final event")
    if not result.answerable:
        print(f"({_why(result)})", file=out)
    print(format_sources(result, colour), file=out)
    return result
