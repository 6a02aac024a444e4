"""Plain-text rendering of answers and evaluation reports for the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qa.evaluation import Report
from qa.records import Answer
from qa.schema import Explain

if TYPE_CHECKING:
    from qa.benchmark import BeirResult

QUOTE_CHARS = 300


def quote(text: str, limit: int | None = None) -> str:
    """Text on one line, shortened to ``limit`` characters, in quotes and indented."""
    flat = " ".join(text.split())
    if limit is not None and len(flat) > limit:
        flat = flat[:limit].rsplit(" ", 1)[0] + " …"
    return f'    "{flat}"'


def format_answer(result: Answer) -> str:
    """The human-readable form of an answer: text, then numbered citations or the closest passages."""
    lines: list[str] = []
    if result.answerable:
        lines += [result.answer, "", "Citations:"]
        for c in result.citations:
            lines += [f"[{c.n}] {c.title} ({c.doc_id}, chars {c.start}-{c.end})", quote(c.quote)]
    else:
        reason = (result.reason or "unknown").replace("_", " ")
        lines += [f"No answer. {result.answer} (reason: {reason}; confidence {result.confidence:.2f})"]
        if result.hits:
            lines += ["", "Closest passages:"]
            for h in result.hits:
                p = h.passage
                lines += [f"[{h.rank}] {h.title} ({p.doc_id}, chars {p.start}-{p.end})", quote(p.text, QUOTE_CHARS)]
    return "\n".join(lines)


def format_scores(result: Answer, info: Explain) -> str:
    """The settings behind the scores, then one line of scores per retrieved passage (``-``: not scored)."""
    lines = [
        f"Scores (fusion {info.fusion}, dense_weight {info.dense_weight:g}, keyword_weight {info.keyword_weight:g}, "
        f"rrf_k {info.rrf_k}, candidates {info.candidates}, bm25 k1 {info.bm25_k1:g} b {info.bm25_b:g}, reranker "
        f"{info.reranker or 'off'}; model {info.model} ({info.embed_backend}), index {info.index_generation}):"
    ]
    for h in result.hits:
        s = h.scores
        lines.append(f"[{h.rank}] {h.passage.doc_id} chars {h.passage.start}-{h.passage.end}: fused {s.fused:.4f}  "
                     f"dense {_score(s.dense)}  keyword {_score(s.keyword)}  rerank {_score(s.rerank)}")
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
        ("answer holds gold", f"{report.answer_match:.3f}  (extractive answer contains a gold short answer)"),
    ]
    return "\n".join(f"{name:<24}{value}" for name, value in rows)


def format_benchmark(result: BeirResult) -> str:
    """BEIR metrics, corpus size and timings as an aligned two-column table."""
    rows = [(name, str(value)) for name, value in result.metrics.items()]
    rows += [
        ("documents / passages", f"{result.documents} / {result.passages}"),
        ("seconds", f"index {result.seconds['index']}, search {result.seconds['search']}"),
    ]
    return "\n".join(f"{name:<24}{value}" for name, value in rows)
