"""The learned answer decision: the stored model loads, matches the features computed, and scores as it says."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from qa.answers import decision
from qa.answers.signals import QUESTION, SENTENCE
from qa.base.errors import ConfigError


def test_packaged_decision_matches_the_signals_and_has_an_operating_point() -> None:
    model = decision.load()
    assert model.sentence.features == SENTENCE and model.answer.features == QUESTION
    assert 0.0 < model.threshold < 1.0
    figures = model.trained["cross_validated"]
    assert isinstance(figures, dict) and "squad2 in archive" in figures


def test_logits_are_the_standardised_linear_score() -> None:
    linear = decision.Linear(features=("a", "b"), mean=(1.0, 2.0), scale=(2.0, 4.0), coef=(0.5, -1.0), intercept=0.25)
    rows = np.array([[3.0, 2.0], [1.0, 6.0]])
    assert linear.logits(rows).tolist() == pytest.approx([0.25 + 0.5 * 1.0, 0.25 - 1.0 * 1.0])
    assert decision.probability(np.array([0.0, 1000.0, -1000.0])).tolist() == pytest.approx([0.5, 1.0, 0.0])


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = decision.load()
    path = tmp_path / "decision.json"
    model.save(path)
    assert decision.load(path) == model


def test_features_that_differ_from_the_code_say_how_to_retrain(tmp_path: Path) -> None:
    raw = msgspec.json.decode(decision.MODEL_FILE.read_bytes())
    raw["answer"]["features"] = [*raw["answer"]["features"][:-1], "renamed"]
    path = tmp_path / "stale.json"
    path.write_bytes(msgspec.json.encode(raw))
    with pytest.raises(ConfigError, match="make decision"):
        decision.load(path)


def test_missing_or_damaged_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no answer decision model"):
        decision.load(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not an answer decision model"):
        decision.load(tmp_path / "bad.json")
