"""The learned answer decision: which sentence answers, and whether to answer at all.

Two logistic regressions over the features of ``qa.answers.signals``, trained by ``bench/train_decision.py``
(``make decision``) from the shared development data and stored in ``decision.json`` beside this module: readable
weights, the data they came from and the cross-validated figures at the operating point.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import msgspec
import numpy as np

from qa.answers import signals
from qa.base.errors import ConfigError

MODEL_FILE = Path(__file__).with_name("decision.json")
RETRAIN = "retrain it with `make decision`"


class Linear(msgspec.Struct, frozen=True, kw_only=True):
    """A logistic regression on standardised features: ``logit = intercept + sum(coef * (x - mean) / scale)``."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def logits(self, rows: np.ndarray) -> np.ndarray:
        """The log-odds of each row of features (in ``features`` order)."""
        x = (np.asarray(rows, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.asarray(x @ np.asarray(self.coef) + self.intercept, dtype=np.float64)


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The sentence scorer, the answer-or-abstain model, its default threshold and how it was trained."""

    sentence: Linear
    answer: Linear
    threshold: float
    trained: dict[str, object] = {}

    def check(self) -> Decision:
        """This decision, or ConfigError when its features are not the ones ``signals`` computes."""
        for name, model, expected in (
            ("sentence", self.sentence, signals.SENTENCE),
            ("answer", self.answer, signals.QUESTION),
        ):
            if model.features != expected:
                raise ConfigError(
                    f"the {name} model in {MODEL_FILE.name} was trained on features {list(model.features)}, "
                    f"but this version computes {list(expected)}; {RETRAIN}"
                )
            if not len(model.mean) == len(model.scale) == len(model.coef) == len(expected):
                raise ConfigError(f"the {name} model in {MODEL_FILE.name} is incomplete; {RETRAIN}")
        return self

    def save(self, path: Path = MODEL_FILE) -> None:
        """Write the decision as indented JSON (reviewable in a diff)."""
        path.write_bytes(msgspec.json.format(msgspec.json.encode(self), indent=2) + b"\n")


@lru_cache(maxsize=4)
def load(path: Path = MODEL_FILE) -> Decision:
    """The decision stored at ``path`` (the packaged one by default), checked against the features computed here."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=Decision).check()
    except FileNotFoundError:
        raise ConfigError(f"no answer decision model at {path}; {RETRAIN}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path} is not an answer decision model ({exc}); {RETRAIN}") from None


def probability(logits: np.ndarray) -> np.ndarray:
    """The logistic function, numerically safe."""
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(logits, -40, 40))), dtype=np.float64)
