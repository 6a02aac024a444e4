"""Activation smoothing: the fp32 model computes the same, its MatMul inputs lose less to per-token int8."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from conftest import TINY_TEXTS, int8, run_onnx, save_tiny_onnx

from qa.store.smoothing import calibration_texts, smooth

HIDDEN, OUTLIER = 16, 3


def tiny_model(path: Path) -> dict[str, Any]:
    """A model of the encoder's inputs: embeddings with one outlier channel, read by two MatMuls, and one more."""
    from onnx import helper

    rng = np.random.default_rng(0)
    table = rng.normal(size=(30522, HIDDEN)).astype(np.float32)
    table[:, OUTLIER] += 40  # a channel far from zero in every token, as transformers have: it sets every int8 scale
    arrays = {"table": table, **{n: rng.normal(size=(HIDDEN, HIDDEN)).astype(np.float32) for n in ("w1", "w2", "w3")}}
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["x"]),
        helper.make_node("MatMul", ["x", "w1"], ["y1"]),
        helper.make_node("MatMul", ["x", "w2"], ["y2"]),
        helper.make_node("Relu", ["y1"], ["r"]),
        helper.make_node("MatMul", ["r", "w3"], ["y3"]),
    ]
    save_tiny_onnx(path, nodes, ("x", "y2", "y3"), arrays, HIDDEN)
    return arrays


def test_same_outputs_in_fp32_and_a_smaller_int8_error(tmp_path: Path, tokenizer: Path) -> None:
    import onnx
    from onnx import numpy_helper
    from tokenizers import Tokenizer

    arrays = tiny_model(tmp_path / "fp32.onnx")
    groups = smooth(tmp_path / "fp32.onnx", tmp_path / "smooth.onnx", tokenizer, calibration_texts())
    assert groups == 2  # x (read by w1 and w2) and r (read by w3)
    model = onnx.load(str(tmp_path / "smooth.onnx"))
    onnx.checker.check_model(model)
    matmuls = {n.input[1]: n.input[0] for n in model.graph.node if n.op_type == "MatMul"}
    assert matmuls["w1"] == matmuls["w2"] != "x" and matmuls["w3"] not in ("r", matmuls["w1"])
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    inverse = inits[next(n.input[1] for n in model.graph.node if n.output[0] == matmuls["w1"])]
    assert inverse.argmin() == OUTLIER  # the outlier channel is divided the most
    np.testing.assert_allclose(inits["w1"] * inverse[:, None], arrays["w1"], rtol=1e-5)

    encode = Tokenizer.from_file(str(tokenizer)).encode
    for text in TINY_TEXTS:
        ids = encode(text).ids
        before, after = run_onnx(tmp_path / "fp32.onnx", ids), run_onnx(tmp_path / "smooth.onnx", ids)
        for a, b in zip(before, after, strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-3)
        x = before[0]
        exact = x @ arrays["w1"]
        plain = np.abs(int8(x, -1) @ int8(arrays["w1"], 0) - exact).mean()
        smoothed = np.abs(int8(x * inverse, -1) @ int8(inits["w1"], 0) - exact).mean()
        assert smoothed < plain / 2, (text, smoothed, plain)


def test_calibration_texts_are_shipped() -> None:
    texts = calibration_texts()
    assert len(texts) >= 200 and all(t == t.strip() and "\n" not in t for t in texts)
    assert any(t.endswith("?") for t in texts) and max(len(t.split()) for t in texts) > 150  # questions and passages
