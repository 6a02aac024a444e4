"""Overlap of a predicted answer with gold answers, as the SQuAD script scores it: exact match and token F1."""

from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation + "“”‘’–—")


def normalise(text: str) -> str:
    """Lower case, without punctuation, articles (a, an, the) or extra spaces, as the SQuAD script does."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def exact_match(predicted: str | None, gold: list[str]) -> float:
    """1.0 when the prediction equals one of the gold answers once normalised, else 0.0 (None never matches)."""
    if predicted is None or not gold:
        return 0.0
    return float(any(normalise(predicted) == normalise(g) for g in gold))


def token_f1(predicted: str | None, gold: list[str]) -> float:
    """The best token-overlap F1 of the prediction against any gold answer (None scores 0.0)."""
    if predicted is None or not gold:
        return 0.0
    return max(_f1(normalise(predicted).split(), normalise(g).split()) for g in gold)


def _f1(predicted: list[str], gold: list[str]) -> float:
    """Token F1 of two normalised token lists; two empty lists agree."""
    if not predicted or not gold:
        return float(predicted == gold)
    common = sum((Counter(predicted) & Counter(gold)).values())
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)
