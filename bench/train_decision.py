"""Train the answer decision (``qa/answers/decision.json``) from the shared development data only.

Two logistic regressions over ``qa.answers.signals``: one scores each candidate sentence (does it hold a gold short
answer?), one decides whether to answer at all (is the question answerable from the archive?). Their training data:

- SQuAD 2.0, the shared half (``../shared/bench/squad2``): its 8 articles indexed, every question asked (answerable
  ones are positive, "looks answerable but is not" ones negative); then the articles split in two halves, each
  indexed alone and asked the other half's answerable questions ("off the archive", negative).
- The seed development questions (``../shared/eval/dev_qa.jsonl``) over the seeds.
- SciFact train claims (``../shared/bench/scifact``) over a sample of abstracts, half with their gold abstracts kept
  (positive), half with them removed (negative).

Every figure is first measured by cross-validation grouped by article (a model never scores questions about an
article it was trained on), so what it prints is what to expect on articles it has not seen. Then the models are
fitted on everything and written with their operating point. Run with ``make decision``; ``--cache`` keeps the
built indexes and retrievals between runs.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from qa.answers import decision as decision_model
from qa.answers import signals
from qa.base.records import Document, Hit
from qa.base.settings import Settings
from qa.evaluation import beir
from qa.evaluation.questions import Question, answer_matches, load_questions
from qa.retrieval.search import search
from qa.service import lifecycle
from qa.store import snapshot
from qa.store.corpus import read_corpus
from qa.store.embedding import Encoder
from qa.store.index import Index
from qa.store.snapshot import build_from_documents

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FOLDS = 4
SCIFACT_CLAIMS = 300
SCIFACT_DISTRACTORS = 900
TOP_K = 10
# The operating point: the largest threshold at which cross-validated answerable questions are abstained on at
# most this often (SQuAD's answerable and the seed questions together).
TARGET_ANSWERABLE_ABSTAINED = 0.06
SWEEP = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


Item = tuple[str, str, str, str, bool, list[str], str | None]  # set, qid, question, group, answerable, answers, gold


@dataclass
class Sample:
    """One question asked of one index: its retrieval, candidate sentences and labels."""

    dataset: str
    qid: str
    question: str
    group: str
    answerable: bool
    answers: list[str]
    gold_doc: str | None
    asked: signals.Focus
    hits: list[Hit]
    candidates: list[signals.Candidate] = field(default_factory=list)

    def labels(self) -> list[int]:
        """Per candidate: 1 when it is in the gold article and holds a gold short answer."""
        return [
            int(
                self.answerable
                and (self.gold_doc is None or c.hit.passage.doc_id == self.gold_doc)
                and answer_matches(c.text, self.answers)
            )
            for c in self.candidates
        ]


def ask_all(
    name: str, index: Index, items: Sequence[Item], encoder: Encoder, settings: Settings, cache: Path
) -> list[Sample]:
    """Retrieve for every item over an index (cached by set name) and compute the candidates (never cached)."""
    saved = cache / f"{name}.hits.pkl"
    if saved.exists():
        with saved.open("rb") as f:
            retrieved: list[tuple[np.ndarray, list[Hit]]] = pickle.load(f)
    else:
        vectors = encoder.encode([item[2] for item in items])
        retrieved = [
            (v, search(index, item[2], v, settings.search, TOP_K)) for item, v in zip(items, vectors, strict=True)
        ]
        with saved.open("wb") as f:
            pickle.dump(retrieved, f)
    out = []
    for (dataset, qid, question, group, answerable, answers, gold), (vector, hits) in zip(
        items, retrieved, strict=True
    ):
        asked = signals.Focus.of(question, index)
        sample = Sample(dataset, qid, question, group, answerable, answers, gold, asked, hits)
        sample.candidates = signals.candidates(asked, vector, hits, index)
        out.append(sample)
    return out


def indexed(name: str, docs: Callable[[], list[Document]], settings: Settings, encoder: Encoder, cache: Path) -> Index:
    """The index of some documents, built once and kept in the cache folder."""
    folder = cache / name
    if not (folder / "manifest.json").exists():
        snapshot.save(build_from_documents(docs(), settings.build, encoder), folder, settings.build)
    return snapshot.load_snapshot(folder, settings.build, encoder, check_corpus=False)


def squad_items(questions: list[Question], inside: set[str], *, off: bool) -> list[Item]:
    """SQuAD questions about the ``inside`` articles or, with ``off``, the answerable ones about the others.

    An unanswerable question names no article; the file lists questions article by article, so it belongs to the
    article of the answerable questions around it (used to group folds).
    """
    out: list[Item] = []
    article = next(q.doc for q in questions if q.doc)
    for q in questions:
        article = q.doc or article
        answerable = q.type != "unanswerable"
        if off and answerable and article not in inside:
            out.append(("squad2 off archive", q.id, q.question, article, False, [], None))
        elif not off and article in inside:
            out.append(("squad2 in archive", q.id, q.question, article, answerable, q.answers, q.doc))
    return out


def collect(settings: Settings, encoder: Encoder, cache: Path, say: Callable[[str], None]) -> list[Sample]:
    """Every training sample; indexes and retrievals are kept in ``cache``, candidates computed afresh."""
    squad = load_questions(SHARED / "bench/squad2/qa.jsonl")
    corpus = {d.id: d for d in read_corpus(SHARED / "bench/squad2/corpus").documents}
    articles = sorted(corpus)
    say(f"SQuAD: {len(articles)} articles, {len(squad)} questions")
    full = indexed("squad2", lambda: list(corpus.values()), settings, encoder, cache)
    samples = ask_all("squad2", full, squad_items(squad, set(articles), off=False), encoder, settings, cache)
    for n, half in enumerate((articles[::2], articles[1::2])):
        index = indexed(f"squad2-half{n}", lambda half=half: [corpus[a] for a in half], settings, encoder, cache)
        items = squad_items(squad, set(half), off=True)
        samples += ask_all(f"squad2-half{n}", index, items, encoder, settings, cache)
    say("seeds: dev questions")
    seeds = indexed("seeds", lambda: list(read_corpus(ROOT / "seeds").documents), settings, encoder, cache)
    dev = load_questions(SHARED / "eval/dev_qa.jsonl")
    items = [("seeds dev", q.id, q.question, "seeds", q.type != "unanswerable", q.answers, None) for q in dev]
    samples += ask_all("seeds", seeds, items, encoder, settings, cache)
    return samples + scifact(settings, encoder, cache, say)


def scifact(settings: Settings, encoder: Encoder, cache: Path, say: Callable[[str], None]) -> list[Sample]:
    """SciFact claims over sampled abstracts: half keep their gold abstracts (answerable), half lose them."""
    folder = SHARED / "bench/scifact"
    rng = random.Random(13)
    docs = {d.id: d for d in beir.load_corpus(folder)}
    qrels = beir.load_qrels(folder, "train")
    queries = beir.queries_for_split(beir.load_queries(folder), qrels)
    sample = rng.sample(sorted(q for q in queries if any(v > 0 for v in qrels[q].values())), SCIFACT_CLAIMS)
    kept, removed = sample[: SCIFACT_CLAIMS // 2], sample[SCIFACT_CLAIMS // 2 :]
    keep = {d for q in kept for d, v in qrels[q].items() if v > 0}
    banned = {d for q in removed for d, v in qrels[q].items() if v > 0} - keep
    pool = sorted(set(docs) - keep - banned)
    chosen = sorted(keep | set(rng.sample(pool, SCIFACT_DISTRACTORS)))
    say(f"SciFact: {len(chosen)} abstracts, {len(kept)} claims kept, {len(removed)} removed")
    index = indexed("scifact", lambda: [docs[d] for d in chosen], settings, encoder, cache)
    items = [("scifact", q, queries[q], f"scifact-{i % FOLDS}", True, [], None) for i, q in enumerate(kept)]
    items += [("scifact", q, queries[q], f"scifact-{i % FOLDS}", False, [], None) for i, q in enumerate(removed)]
    return ask_all("scifact", index, items, encoder, settings, cache)


def fit(rows: np.ndarray, labels: np.ndarray, names: tuple[str, ...], c: float) -> decision_model.Linear:
    """A logistic regression on standardised features, as the service stores it."""
    mean, scale = rows.mean(axis=0), rows.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=2000).fit((rows - mean) / scale, labels)
    return decision_model.Linear(
        features=names,
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        coef=tuple(round(float(v), 6) for v in model.coef_[0]),
        intercept=round(float(model.intercept_[0]), 6),
    )


def sentence_data(samples: Sequence[Sample]) -> tuple[np.ndarray, np.ndarray]:
    """Candidate features and labels of the questions with short answers."""
    rows, labels = [], []
    for s in samples:
        if s.answerable and s.answers and s.candidates:
            rows += [c.features for c in s.candidates]
            labels += s.labels()
    return signals.as_array(rows), np.asarray(labels)


def rank(samples: Sequence[Sample], model: decision_model.Linear) -> list[list[signals.Candidate]]:
    """Each sample's candidates scored by the sentence model, best first."""
    out = []
    for s in samples:
        if not s.candidates:
            out.append([])
            continue
        scores = model.logits(signals.as_array([c.features for c in s.candidates]))
        scored = [
            signals.Candidate(**{**c.__dict__, "score": float(v)}) for c, v in zip(s.candidates, scores, strict=True)
        ]
        out.append(sorted(scored, key=lambda c: -c.score))
    return out


def question_data(samples: Sequence[Sample], ranked: list[list[signals.Candidate]]) -> tuple[np.ndarray, np.ndarray]:
    """Question features and answerable labels."""
    rows = [signals.question_features(s.asked, r, s.hits) for s, r in zip(samples, ranked, strict=True)]
    return signals.as_array(rows), np.asarray([int(s.answerable) for s in samples])


def train(samples: Sequence[Sample], c: float) -> tuple[decision_model.Linear, decision_model.Linear]:
    """Both models fitted on the samples."""
    sentence = fit(*sentence_data(samples), signals.SENTENCE, c)
    answer = fit(*question_data(samples, rank(samples, sentence)), signals.QUESTION, c)
    return sentence, answer


def cross_validate(samples: list[Sample], c: float) -> tuple[np.ndarray, list[signals.Candidate | None]]:
    """Out-of-fold answer probabilities and best sentences, folds grouped by article."""
    groups = sorted({s.group for s in samples})
    fold = {g: i % FOLDS for i, g in enumerate(groups)}
    prob = np.zeros(len(samples))
    best: list[signals.Candidate | None] = [None] * len(samples)
    for k in range(FOLDS):
        train_idx = [i for i, s in enumerate(samples) if fold[s.group] != k]
        test_idx = [i for i, s in enumerate(samples) if fold[s.group] == k]
        sentence, answer = train([samples[i] for i in train_idx], c)
        test = [samples[i] for i in test_idx]
        ranked = rank(test, sentence)
        rows, _ = question_data(test, ranked)
        for i, p, r in zip(test_idx, decision_model.probability(answer.logits(rows)), ranked, strict=True):
            prob[i] = p
            best[i] = r[0] if r else None
    return prob, best


def report(
    samples: list[Sample], prob: np.ndarray, best: list[signals.Candidate | None], threshold: float
) -> dict[str, object]:
    """Figures by set at a threshold: abstention rates, ROC AUC, answer-sentence accuracy."""
    out: dict[str, object] = {}

    def part(name: str, keep: Callable[[Sample], bool]) -> None:
        idx = [i for i, s in enumerate(samples) if keep(s)]
        if not idx:
            return
        yes = [i for i in idx if samples[i].answerable]
        no = [i for i in idx if not samples[i].answerable]
        row: dict[str, object] = {"questions": len(idx)}
        if yes:
            row["answerable_abstained"] = round(float(np.mean(prob[yes] < threshold)), 4)
            with_answers = [i for i in yes if samples[i].answers]
            if with_answers:
                row["best_sentence_holds_gold"] = round(
                    float(
                        np.mean(
                            [bool(best[i] and answer_matches(best[i].text, samples[i].answers)) for i in with_answers]
                        )
                    ),
                    4,
                )
        if no:
            row["unanswerable_abstained"] = round(float(np.mean(prob[no] < threshold)), 4)
        if yes and no:
            row["roc_auc"] = round(float(roc_auc_score([1] * len(yes) + [0] * len(no), np.r_[prob[yes], prob[no]])), 4)
        out[name] = row

    for name in dict.fromkeys(s.dataset for s in samples):
        part(name, lambda s, name=name: s.dataset == name)
    return out


def operating_point(samples: list[Sample], prob: np.ndarray) -> float:
    """The largest threshold that abstains on at most the target share of answerable SQuAD and seed questions."""
    yes = np.sort([p for s, p in zip(samples, prob, strict=True) if s.answerable and s.answers])
    return float(yes[int(np.floor(TARGET_ANSWERABLE_ABSTAINED * len(yes)))])


def main(argv: Sequence[str] | None = None) -> int:
    """Collect, cross-validate, fit and write the decision."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=ROOT / "bench/.cache/decision", help="retrievals kept between runs")
    ap.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength")
    ap.add_argument("--out", type=Path, default=decision_model.MODEL_FILE)
    ap.add_argument("--dry-run", action="store_true", help="print the figures, write nothing")
    args = ap.parse_args(argv)
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    args.cache.mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env({})
    encoder = lifecycle.open_encoder(settings, say)
    samples = collect(settings, encoder, args.cache, say)
    prob, best = cross_validate(samples, args.c)
    threshold = operating_point(samples, prob)
    figures = report(samples, prob, best, threshold)
    print(json.dumps({"threshold": round(threshold, 4), **figures}, indent=2))
    print("threshold sweep (cross-validated): abstained share of answerable / unanswerable per set")
    for t in SWEEP:
        cells = []
        for name in dict.fromkeys(s.dataset for s in samples):
            yes = [p < t for s, p in zip(samples, prob, strict=True) if s.dataset == name and s.answerable]
            no = [p < t for s, p in zip(samples, prob, strict=True) if s.dataset == name and not s.answerable]
            cells.append(
                f"{name}: {np.mean(yes) if yes else float('nan'):.3f} / {np.mean(no) if no else float('nan'):.3f}"
            )
        print(f"  {t:.2f}  " + "; ".join(cells))
    sentence, answer = train(samples, args.c)
    decision = decision_model.Decision(
        sentence=sentence,
        answer=answer,
        threshold=round(threshold, 4),
        trained={
            "by": "bench/train_decision.py (make decision)",
            "data": "../shared: bench/squad2 (in and off archive), eval/dev_qa.jsonl, bench/scifact train claims",
            "samples": len(samples),
            "regularisation_c": args.c,
            "cross_validated": figures,
        },
    )
    if not args.dry_run:
        decision.save(args.out)
        say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
