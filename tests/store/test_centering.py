"""Per-token centring: lopsided MatMul inputs are found on calibration text, the fp32 model computes the same, the
shift meets the int8 weights as dequantised, and the centred product loses less to per-token int8."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import TINY_TEXTS, int8, run_onnx, save_tiny_onnx

from qa.store.centering import COLUMN_SUMS, center, lopsided_inputs, match_column_sums
from qa.store.onnx_encoder import quantise_int8

HIDDEN = 16


def lopsided_model(path: Path) -> dict[str, Any]:
    """Embeddings around zero read by two MatMuls (w1, w2), and a shifted ReLU of one product (mostly at -0.1, a
    few large values) read by a third (w3): only that input is lopsided."""
    from onnx import helper

    rng = np.random.default_rng(0)
    arrays = {"table": rng.normal(size=(30522, HIDDEN)).astype(np.float32)}
    arrays |= {n: rng.normal(size=(HIDDEN, HIDDEN)).astype(np.float32) for n in ("w1", "w2", "w3")}
    arrays["low"] = np.array(-0.1, dtype=np.float32)
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["x"]),
        helper.make_node("MatMul", ["x", "w1"], ["y1"]),
        helper.make_node("MatMul", ["x", "w2"], ["y2"]),
        helper.make_node("Relu", ["y1"], ["relu"]),
        helper.make_node("Add", ["relu", "low"], ["r"]),
        helper.make_node("MatMul", ["r", "w3"], ["y3"]),
    ]
    save_tiny_onnx(path, nodes, ("r", "y2", "y3"), arrays, HIDDEN)
    return arrays


def test_only_the_lopsided_input_is_centred_and_fp32_is_unchanged(tmp_path: Path, tokenizer: Path) -> None:
    import onnx
    from onnx import numpy_helper
    from tokenizers import Tokenizer

    arrays = lopsided_model(tmp_path / "fp32.onnx")
    chosen = lopsided_inputs(tmp_path / "fp32.onnx", tokenizer, TINY_TEXTS)
    assert chosen == {"r"}
    model = onnx.load(str(tmp_path / "fp32.onnx"))
    assert center(model, chosen) == 1
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp_path / "centred.onnx"))
    matmuls = {n.input[1]: n.input[0] for n in model.graph.node if n.op_type == "MatMul"}
    assert matmuls["w1"] == matmuls["w2"] == "x" and matmuls["w3"] != "r"
    sums = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}["w3" + COLUMN_SUMS]
    np.testing.assert_allclose(sums, arrays["w3"].sum(axis=0), rtol=1e-5)

    encode = Tokenizer.from_file(str(tokenizer)).encode
    for text in TINY_TEXTS:
        ids = encode(text).ids
        before, after = run_onnx(tmp_path / "fp32.onnx", ids), run_onnx(tmp_path / "centred.onnx", ids)
        for a, b in zip(before, after, strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)
        r = before[0]
        mid = (r.max(axis=-1, keepdims=True) + r.min(axis=-1, keepdims=True)) / 2
        exact = r @ arrays["w3"]
        plain = np.abs(int8(r) @ arrays["w3"] - exact).mean()
        centred = np.abs((int8(r - mid) + mid) @ arrays["w3"] - exact).mean()
        assert centred < plain * 0.75, (text, centred, plain)


def test_column_sums_match_the_int8_weights(tmp_path: Path, tokenizer: Path) -> None:
    import onnx
    from onnx import numpy_helper

    lopsided_model(tmp_path / "fp32.onnx")
    model = onnx.load(str(tmp_path / "fp32.onnx"))
    center(model, {"r"})
    onnx.save(model, str(tmp_path / "centred.onnx"))
    quantise_int8(tmp_path / "centred.onnx", tmp_path / "int8.onnx")
    quantised = onnx.load(str(tmp_path / "int8.onnx"))
    assert match_column_sums(quantised) == 1
    inits = {i.name: numpy_helper.to_array(i).astype(np.float32) for i in quantised.graph.initializer}
    weights = (inits["w3_quantized"] - inits["w3_zero_point"]) * inits["w3_scale"]
    np.testing.assert_allclose(inits["w3" + COLUMN_SUMS], weights.sum(axis=0), rtol=1e-5, atol=1e-5)
    del quantised.graph.initializer[[i.name for i in quantised.graph.initializer].index("w3_scale")]
    with pytest.raises(ValueError, match="w3"):
        match_column_sums(quantised)
