"""Fused kernels: attention and GELU fused in the fp32 export compute the same model; each int8 MatMulInteger ->
Cast -> Mul chain becomes one MatMulIntegerToFloat with bitwise the same outputs, chains read elsewhere left alone;
the shipped export has neither an unfused product nor an unfused attention."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import numpy as np
from conftest import TINY_TEXTS, run_onnx, save_tiny_onnx

from qa.store.fusion import MS_DOMAIN, fuse_attention, fuse_dequantisation
from qa.store.onnx_encoder import INT8_FILE, export_fp32, quantise_int8
from qa.store.per_token import ONE, rewrite_per_token

HIDDEN = 16


def per_token_int8(folder: Path) -> Any:
    """A tiny graph of three weight products (one of them read by another), as the encoder's recipe quantises it:
    dynamic int8 per channel, then per-token activations."""
    import onnx
    from onnx import helper

    rng = np.random.default_rng(0)
    arrays = {"table": rng.normal(size=(30522, HIDDEN)).astype(np.float32)}
    arrays |= {n: rng.normal(size=(HIDDEN, HIDDEN)).astype(np.float32) for n in ("w1", "w2", "w3")}
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["x"], name="embed"),
        helper.make_node("MatMul", ["x", "w1"], ["y1"], name="first"),
        helper.make_node("MatMul", ["x", "w2"], ["y2"], name="second"),
        helper.make_node("Relu", ["y1"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "w3"], ["y3"], name="third"),
    ]
    save_tiny_onnx(folder / "fp32.onnx", nodes, ("y2", "y3"), arrays, HIDDEN)
    quantise_int8(folder / "fp32.onnx", folder / "int8.onnx")
    model = onnx.load(str(folder / "int8.onnx"))
    assert rewrite_per_token(model) == 2  # x is quantised once for both of its products
    return model


def ops(model: Any) -> collections.Counter[str]:
    """How many nodes of each kind the graph holds."""
    return collections.Counter(node.op_type for node in model.graph.node)


def test_fused_products_give_bitwise_the_same_outputs(tmp_path: Path, tokenizer: Path) -> None:
    import onnx
    from tokenizers import Tokenizer

    model = per_token_int8(tmp_path)
    onnx.save(model, str(tmp_path / "unfused.onnx"))
    assert ops(model)["MatMulInteger"] == 3 and ops(model)["Cast"] == 3
    assert fuse_dequantisation(model) == 3
    onnx.checker.check_model(model)
    assert ops(model)["MatMulIntegerToFloat"] == 3
    assert not {"MatMulInteger", "Cast"} & set(ops(model))
    assert any(opset.domain == MS_DOMAIN for opset in model.opset_import)
    onnx.save(model, str(tmp_path / "fused.onnx"))
    encode = Tokenizer.from_file(str(tokenizer)).encode
    for text in TINY_TEXTS:
        ids = encode(text).ids
        before, after = run_onnx(tmp_path / "unfused.onnx", ids), run_onnx(tmp_path / "fused.onnx", ids)
        for a, b in zip(before, after, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b), text


def test_a_chain_read_elsewhere_is_left_alone(tmp_path: Path) -> None:
    from onnx import helper

    model = per_token_int8(tmp_path)
    integer = next(n for n in model.graph.node if n.op_type == "MatMulInteger")
    model.graph.node.append(helper.make_node("Identity", [integer.output[0]], ["sums"], name="reader"))
    assert fuse_dequantisation(model) == 2
    assert ops(model)["MatMulInteger"] == 1 and ops(model)["Cast"] == 1


def test_scales_shared_by_two_chains_go_once_both_are_fused(tmp_path: Path, tokenizer: Path) -> None:
    import onnx
    from tokenizers import Tokenizer

    model = per_token_int8(tmp_path)
    scales = [n for n in model.graph.node if n.op_type == "Mul" and ONE in n.input]
    first, second = scales[0].output[0], scales[1].output[0]
    for node in model.graph.node:  # the second product now reads the first one's column scales
        if node.op_type == "Mul" and second in node.input:
            node.input[list(node.input).index(second)] = first
    model.graph.node.remove(scales[1])
    onnx.save(model, str(tmp_path / "unfused.onnx"))
    assert fuse_dequantisation(model) == 3
    assert not [n for n in model.graph.node if n.op_type == "Mul" and ONE in n.input]
    onnx.save(model, str(tmp_path / "fused.onnx"))
    ids = Tokenizer.from_file(str(tokenizer)).encode(TINY_TEXTS[0]).ids
    for a, b in zip(run_onnx(tmp_path / "unfused.onnx", ids), run_onnx(tmp_path / "fused.onnx", ids), strict=True):
        assert np.array_equal(a, b)


def test_a_model_without_the_chain_is_unchanged(tmp_path: Path) -> None:
    import onnx

    save_tiny_onnx(tmp_path / "fp32.onnx", [], (), {}, HIDDEN)
    model = onnx.load(str(tmp_path / "fp32.onnx"))
    before = model.SerializeToString()
    assert fuse_dequantisation(model) == 0
    assert model.SerializeToString() == before


def test_the_shipped_export_has_no_unfused_product(onnx_cache: Path) -> None:
    import onnx

    model = onnx.load(str(onnx_cache / INT8_FILE))
    counts = ops(model)
    assert counts["MatMulIntegerToFloat"] == 36  # six layers: query, key, value, output and two feed-forward products
    assert counts["MatMulInteger"] == 0
    assert counts["MultiHeadAttention"] == 6 and "Softmax" not in counts


def test_fused_attention_computes_the_same_fp32_model(tmp_path: Path) -> None:
    import onnx
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64,
    )  # fmt: skip
    BertModel(config).eval().save_pretrained(tmp_path / "tiny")
    export_fp32(tmp_path / "tiny", tmp_path / "fp32.onnx")
    assert fuse_attention(tmp_path / "fp32.onnx", tmp_path / "fused.onnx", heads=4, hidden=32) == 2
    fused = onnx.load(str(tmp_path / "fused.onnx"))
    assert ops(fused)["Gelu"] == 2 and "Softmax" not in ops(fused)
    assert ops(fused)["MatMul"] == 2 * 6  # query, key, value, output, two feed-forward: left for int8
    rng = np.random.default_rng(0)
    for length in (1, 7, 40):
        ids = [int(i) for i in rng.integers(1, 30522, size=length)]
        [before], [after] = run_onnx(tmp_path / "fp32.onnx", ids), run_onnx(tmp_path / "fused.onnx", ids)
        np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-5)
