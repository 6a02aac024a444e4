"""Citation support threshold: precision and recall of qa.citations' support test on claim/passage pairs.

Pairs come from the dev questions over the seed passages (the production chunking):

- positives: the gold evidence against the passage that holds it, and a restatement (question + gold answer)
  against the same passage;
- negatives: the same claims against the gold passage of a question about another article; the restatement
  against the passage of the same article that shares most terms with it but holds neither evidence nor answer;
  the evidence with one figure changed; the evidence with one name changed (both against the gold passage).

Prints precision / recall / F1 of "supported" by threshold for the lexical score (no encoder), the cosine alone
and their mean (with the bundled model), each with the figure check, and the acceptance rate per kind of pair.
"""

from __future__ import annotations

import argparse
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.answers.citations import Support, support
from qa.base.records import Hit, Scores
from qa.base.settings import Settings
from qa.base.terms import terms
from qa.evaluation.questions import Question, contains_evidence, load_questions
from qa.store.corpus import load_corpus
from qa.store.embedding import SentenceEncoder
from qa.store.sentence_table import SentenceTable
from qa.store.snapshot import build_from_documents

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "tests" / "data" / "dev_qa.jsonl"
THRESHOLDS = [round(0.05 * i, 2) for i in range(4, 17)]
_NAME = re.compile(r"(?<=\s)[A-Z][a-z]{3,}\b")
_DIGITS = re.compile(r"\b\d+\b")


@dataclass(frozen=True)
class Pair:
    """A claim, the passage it is checked against, whether the passage supports it, and the kind of pair."""

    claim: str
    hit: Hit
    positive: bool
    kind: str


def main() -> None:
    """Build the pairs, score them with and without the encoder, print the sweep."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=Path, default=DEV)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    settings = Settings.of(corpus_dir=ROOT / "seeds")
    encoder = SentenceEncoder(settings.build.model)
    docs = load_corpus(settings.build.corpus_dir)
    index = build_from_documents(docs, settings.build, encoder)
    titles = {d.id: d.title for d in docs}
    hits = [
        Hit(rank=1, passage=p, title=titles[p.doc_id], scores=Scores(dense=None, keyword=None, fused=0.0))
        for p in index.passages
    ]
    pairs = make_pairs(load_questions(args.questions), hits, random.Random(args.seed))
    kinds = sorted({p.kind for p in pairs})
    print(f"{len(pairs)} pairs: " + ", ".join(f"{k} {sum(p.kind == k for p in pairs)}" for k in kinds))
    lexical = [support([p.claim], p.hit, index.sentences, None)[0] for p in pairs]
    dense = _batched(pairs, index.sentences, encoder)
    methods: dict[str, tuple[list[Support], Callable[[Support], float]]] = {
        "lexical (no encoder)": (lexical, lambda s: s.lexical),
        "cosine": (dense, lambda s: s.cosine or 0.0),
        "mean of lexical and cosine": (dense, lambda s: s.score()),
    }
    for name, (scored, score) in methods.items():
        print(f"\n{name}: threshold  P / R / F1 with the figure and name checks  (without them)")
        best = max(THRESHOLDS, key=lambda t: f1(pairs, scored, score, t, True)[2])
        for t in THRESHOLDS:
            with_check = f1(pairs, scored, score, t, True)
            without = f1(pairs, scored, score, t, False)
            mark = "  <- best F1" if t == best else ""
            print(f"  {t:.2f}  {_fmt(with_check)}  ({_fmt(without)}){mark}")
        rates = ", ".join(f"{k} {_accept(pairs, scored, score, best, k):.2f}" for k in kinds)
        print(f"  accepted at {best:.2f}: {rates}")


def _batched(pairs: list[Pair], sentences: SentenceTable, encoder: SentenceEncoder) -> list[Support]:
    """Support of every pair with the encoder, one encoding call (of the claims) per passage."""
    out: dict[int, Support] = {}
    by_passage: dict[tuple[str, int], list[int]] = {}
    for i, p in enumerate(pairs):
        by_passage.setdefault((p.hit.passage.doc_id, p.hit.passage.start), []).append(i)
    for members in by_passage.values():
        found = support([pairs[i].claim for i in members], pairs[members[0]].hit, sentences, encoder)
        out.update(zip(members, found, strict=True))
    return [out[i] for i in range(len(pairs))]


def make_pairs(questions: list[Question], hits: list[Hit], rng: random.Random) -> list[Pair]:
    """Positive and negative claim/passage pairs from the questions with verbatim evidence."""
    gold: list[tuple[Question, str, Hit]] = []
    for q in questions:
        for evidence in q.evidence:
            holding = [h for h in hits if contains_evidence(h.passage.text, evidence)]
            if holding and q.answers:
                gold.append((q, evidence, holding[0]))
    lower = {w for h in hits for w in re.findall(r"\w+", h.passage.text) if w.islower()}
    names = sorted({m.group(0) for h in hits for m in _NAME.finditer(h.passage.text)} - {w.title() for w in lower})
    pairs: list[Pair] = []
    for q, evidence, hit in gold:
        restated = f"{q.question.rstrip('?')}: {q.answers[0]}."
        pairs += [Pair(evidence, hit, True, "evidence"), Pair(restated, hit, True, "restatement")]
        other = rng.choice([g for g in gold if g[2].passage.doc_id != hit.passage.doc_id])[2]
        pairs += [Pair(evidence, other, False, "other article"), Pair(restated, other, False, "other article")]
        near = _nearest_without(restated, hit, q, hits)
        if near is not None:
            pairs.append(Pair(restated, near, False, "same article, other passage"))
        changed = _change_figure(evidence)
        if changed is not None:
            pairs.append(Pair(changed, hit, False, "changed figure"))
        renamed = _change_name(evidence, hit.passage.text, names, rng)
        if renamed is not None:
            pairs.append(Pair(renamed, hit, False, "changed name"))
    return pairs


def _nearest_without(claim: str, gold: Hit, q: Question, hits: list[Hit]) -> Hit | None:
    """The passage of the same article sharing most terms with the claim but holding no evidence or answer."""
    wanted = set(terms(claim))
    candidates = [
        h
        for h in hits
        if h.passage.doc_id == gold.passage.doc_id
        and not any(contains_evidence(h.passage.text, e) for e in q.evidence)
        and not any(a.lower() in h.passage.text.lower() for a in q.answers)
    ]
    return max(candidates, key=lambda h: len(wanted & set(terms(h.passage.text))), default=None)


def _change_figure(evidence: str) -> str | None:
    """The evidence with its first number changed (years by 3, other numbers by 7), or None without one."""
    match = _DIGITS.search(evidence)
    if match is None:
        return None
    value = int(match.group(0))
    new = value + 3 if 1900 <= value <= 2100 else value + 7
    return evidence[: match.start()] + str(new) + evidence[match.end() :]


def _change_name(evidence: str, passage: str, names: list[str], rng: random.Random) -> str | None:
    """The evidence with one capitalised name swapped for a name from the corpus that the passage lacks."""
    found = list(_NAME.finditer(evidence))
    if not found:
        return None
    match = rng.choice(found)
    pool = [n for n in names if n not in passage and n.lower() not in evidence.lower()]
    return evidence[: match.start()] + rng.choice(pool) + evidence[match.end() :]


def f1(
    pairs: list[Pair], scored: list[Support], score: Callable[[Support], float], t: float, check: bool
) -> tuple[float, float, float]:
    """Precision, recall and F1 of "supported" (score >= t, and figures and names present when ``check``)."""
    said = [score(s) >= t and ((s.figures_ok and s.names_ok) or not check) for s in scored]
    tp = sum(s and p.positive for s, p in zip(said, pairs, strict=True))
    fp = sum(s and not p.positive for s, p in zip(said, pairs, strict=True))
    fn = sum(not s and p.positive for s, p in zip(said, pairs, strict=True))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _accept(pairs: list[Pair], scored: list[Support], score: Callable[[Support], float], t: float, kind: str) -> float:
    """Share of the pairs of one kind judged supported at threshold t (with the figure and name checks)."""
    said = [score(s) >= t and s.figures_ok and s.names_ok for s, p in zip(scored, pairs, strict=True) if p.kind == kind]
    return sum(said) / len(said) if said else 0.0


def _fmt(prf: tuple[float, float, float]) -> str:
    """``P / R / F1`` with three decimals."""
    return " / ".join(f"{x:.3f}" for x in prf)


if __name__ == "__main__":
    main()
