"""Abstention calibration on SciFact train claims: how often we abstain when the answer is there, and answer when not.

Half of the sampled claims keep their gold abstracts in the index (answerable), the other half have them removed
(unanswerable), among random distractor abstracts. Prints both error rates over a sweep of thresholds, with the
configured threshold marked. Bounded by ``--claims`` and ``--distractors``.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from qa.base.settings import Settings
from qa.evaluation import beir
from qa.service.engine import Engine
from qa.store.embedding import SentenceEncoder
from qa.store.snapshot import build_from_documents

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "bench" / "scifact"


def main() -> None:
    """Build the mixed index, ask every sampled claim, print abstention error rates by threshold."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--beir", type=Path, default=SCIFACT)
    ap.add_argument("--claims", type=int, default=200)
    ap.add_argument("--distractors", type=int, default=600)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    docs = {d.id: d for d in beir.load_corpus(args.beir)}
    qrels = beir.load_qrels(args.beir, "train")
    queries = beir.queries_for_split(beir.load_queries(args.beir), qrels)
    sample = rng.sample(sorted(q for q in queries if any(v > 0 for v in qrels[q].values())), args.claims)
    answerable, unanswerable = sample[: args.claims // 2], sample[args.claims // 2 :]
    keep = {d for q in answerable for d, v in qrels[q].items() if v > 0}
    banned = {d for q in unanswerable for d, v in qrels[q].items() if v > 0} - keep
    pool = sorted(set(docs) - keep - banned)
    chosen = keep | set(rng.sample(pool, args.distractors))
    settings = Settings()
    encoder = SentenceEncoder(settings.build.model)
    index = build_from_documents([docs[d] for d in sorted(chosen)], settings.build, encoder)
    engine = Engine(settings, encoder, index)
    yes = [engine.ask(queries[q]) for q in answerable]
    no = [engine.ask(queries[q]) for q in unanswerable]
    conf_yes, conf_no = [a.confidence for a in yes], [a.confidence for a in no]
    print(
        f"{len(chosen)} abstracts ({len(keep)} gold of {len(answerable)} answerable claims), "
        f"{len(unanswerable)} claims whose gold abstracts were removed"
    )
    print("threshold  abstained-on-answerable  answered-unanswerable")
    for t in sorted({0.1, 0.15, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.35, 0.4, settings.answers.abstain_threshold}):
        wrong_abstain = sum(c < t for c in conf_yes) / len(conf_yes)
        wrong_answer = sum(c >= t for c in conf_no) / len(conf_no)
        mark = "  <- configured" if t == settings.answers.abstain_threshold else ""
        print(f"  {t:.2f}     {wrong_abstain:.3f}                    {wrong_answer:.3f}{mark}")
    signals = {
        "confidence (the service's)": lambda a: a.confidence,
        "top passage dense cosine": lambda a: a.hits[0].scores.dense or 0.0 if a.hits else 0.0,
        "top passage BM25": lambda a: a.hits[0].scores.keyword or 0.0 if a.hits else 0.0,
    }
    print("how well each signal separates answerable from unanswerable claims (ROC AUC, 0.5 = chance):")
    for name, signal in signals.items():
        print(f"  {name:28s} {auc([signal(a) for a in yes], [signal(a) for a in no]):.3f}")


def auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


if __name__ == "__main__":
    main()
