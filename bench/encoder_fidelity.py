"""How close the int8 ONNX encoder stays to the fp32 model, on shared texts the calibration never saw.

Usage: python bench/encoder_fidelity.py [--shared ../shared] [--cache DIR]

Texts (file order, no randomness; ``bench/make_calibration.py`` takes the first 100 abstracts, the first 60 claims
and the first 2 SQuAD articles, so these start after them): SciFact abstracts 100-399, claims 60-259, every n-th
paragraph (250 at most) and question (250 at most) of the SQuAD articles from the third on. The reference is
sentence-transformers in fp32 (torch); the int8 encoder is this tree's (``--cache``: its export folder, made when
missing). Prints the cosine to fp32 per kind of text and over all (mean, min, 1st percentile) and ``|dsim|``, the
mean absolute error of the claim-abstract and question-paragraph similarity matrices.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from qa.base.settings import DEFAULT_MODEL
from qa.store.embedding import SentenceEncoder
from qa.store.onnx_encoder import RECIPE, OnnxEncoder

ROOT = Path(__file__).resolve().parent.parent


def lines(path: Path) -> list[dict[str, str]]:
    """The JSON objects of a JSON Lines file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def held_out(shared: Path) -> dict[str, list[str]]:
    """The texts by kind, whitespace collapsed."""
    scifact, squad = shared / "bench" / "scifact", shared / "bench" / "squad2"
    out = {
        "abstracts": [f"{d['title']}. {d['text']}" for d in lines(scifact / "corpus.jsonl")[100:400]],
        "claims": [d["text"] for d in lines(scifact / "queries.jsonl")[60:260]],
    }
    articles = lines(squad / "corpus" / "squad2.jsonl")[2:]
    paragraphs = [p for a in articles for p in a["text"].split("\n") if len(p.split()) >= 8]
    out["paragraphs"] = paragraphs[:: max(1, len(paragraphs) // 250)][:250]
    chosen = {a["id"] for a in articles}
    questions = [q["question"] for q in lines(squad / "qa.jsonl") if q["doc"] in chosen]
    out["questions"] = questions[:: max(1, len(questions) // 250)][:250]
    return {kind: [" ".join(t.split()) for t in texts] for kind, texts in out.items()}


def main() -> None:
    """Encode the texts both ways and print the agreement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--cache", type=Path, default=None, help="the ONNX export folder (default: a temporary one)")
    args = parser.parse_args()
    texts = held_out(args.shared)
    with tempfile.TemporaryDirectory() as tmp:
        onnx = OnnxEncoder(DEFAULT_MODEL, args.cache or Path(tmp) / "onnx")
        got = {kind: onnx.encode(t) for kind, t in texts.items()}
    torch = SentenceEncoder(DEFAULT_MODEL)
    ref = {kind: torch.encode(t) for kind, t in texts.items()}
    print(f"recipe {RECIPE}; texts {', '.join(f'{k} {len(v)}' for k, v in texts.items())}")
    cosines = {kind: (got[kind] * ref[kind]).sum(axis=1) for kind in texts}
    for kind, values in [*cosines.items(), ("all", np.concatenate(list(cosines.values())))]:
        print(f"{kind:11s} cosine mean {values.mean():.5f}  min {values.min():.5f}  p1 {np.percentile(values, 1):.5f}")
    errors = [
        np.abs(got[q] @ got[p].T - ref[q] @ ref[p].T).mean()
        for q, p in [("claims", "abstracts"), ("questions", "paragraphs")]
    ]
    print(f"|dsim| {np.mean(errors):.5f} (claims x abstracts {errors[0]:.5f}, questions x paragraphs {errors[1]:.5f})")


if __name__ == "__main__":
    main()
