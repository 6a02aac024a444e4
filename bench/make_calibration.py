"""Write ``qa/store/calibration.txt``: the fixed texts whose fp32 activations set the int8 encoder's smoothing.

Drawn from the shared data only, in file order (no randomness): the first SciFact abstracts and claims (science),
the paragraphs of the first SQuAD 2.0 articles and the questions on them (encyclopedia), so long passages, short
sentences and questions all set the channels' ranges. The seed articles and their questions are left out: they
are what the development figures are measured on. Run: ``python bench/make_calibration.py [--shared ../shared]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "qa" / "store" / "calibration.txt"
ABSTRACTS, CLAIMS, ARTICLES, QUESTIONS = 100, 60, 2, 60


def lines(path: Path) -> list[dict[str, str]]:
    """The JSON objects of a JSON Lines file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def texts(shared: Path) -> list[str]:
    """The calibration texts, one paragraph or question each."""
    scifact, squad = shared / "bench" / "scifact", shared / "bench" / "squad2"
    out = [f"{d['title']}. {d['text']}" for d in lines(scifact / "corpus.jsonl")[:ABSTRACTS]]
    out += [d["text"] for d in lines(scifact / "queries.jsonl")[:CLAIMS]]
    articles = lines(squad / "corpus" / "squad2.jsonl")[:ARTICLES]
    out += [p for a in articles for p in a["text"].split("\n") if len(p.split()) >= 8]
    chosen = {a["id"] for a in articles}
    out += [q["question"] for q in lines(squad / "qa.jsonl") if q["doc"] in chosen][:QUESTIONS]
    return [" ".join(t.split()) for t in out if t.strip()]


def main() -> None:
    """Write the file and say how many texts it holds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared")
    chosen = texts(parser.parse_args().shared)
    OUT.write_text("\n".join(chosen) + "\n", encoding="utf-8")
    print(f"{len(chosen)} texts -> {OUT}")


if __name__ == "__main__":
    main()
