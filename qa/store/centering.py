"""Per-token centring before int8: each weight MatMul's input shifted by its token's mid-range, the shift's product
added back after the MatMul.

A per-token symmetric int8 scale spends its 255 levels on ``[-max|x|, max|x|]``, while a token's values often span
far less around a point away from zero (GELU outputs: a few large positives, the rest just below zero). Shifting
each token by its mid-range ``c = (max x + min x) / 2`` leaves ``x - c`` within ``+-(max x - min x) / 2``: up to
twice the levels on the same values. ``x @ W = (x - c) @ W + c * colsum(W)``, exact in fp32; once the weights are
int8, ``match_column_sums`` sets each ``colsum`` to the column sums of the weights as dequantised, so the shift
meets the same weights as the product and only the rounding of ``x - c`` is left. ``c`` is the token's own: a
text's vector still depends on that text alone.

Only lopsided inputs are centred (``lopsided_inputs``: on the calibration texts, a token's half-range is on average
below ``RANGE_SHARE`` of its largest ``|x|``): in MiniLM those are the feed-forward output projections' (0.60-0.74;
every other input 0.86-0.92). bench/README.md "Encoder fidelity, second pass": mean cosine to fp32 on held-out
SciFact and SQuAD texts 0.99900 -> 0.99917 for about 5% more encoder CPU on passages and none measured on queries;
centring every input reached 0.99932 for 20% more on passages and 39% on a query.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qa.store.smoothing import activations

RANGE_SHARE = 0.8  # a token's mean half-range below this share of its max |x|: the input is centred
COLUMN_SUMS = "_centring_column_sums"  # suffix of a weight's name: the initializer holding its column sums
HALF = "centring_half"


def weight_inputs(model: Any) -> dict[str, list[Any]]:
    """Each input read by a MatMul with a constant weight -> those MatMuls, in graph order."""
    weights = {init.name for init in model.graph.initializer}
    groups: dict[str, list[Any]] = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights:
            groups.setdefault(node.input[0], []).append(node)
    return groups


def lopsided_inputs(fp32: Path, tokenizer_file: Path, texts: list[str]) -> set[str]:
    """The weight-MatMul inputs of the fp32 model whose tokens' half-range is on average below ``RANGE_SHARE`` of
    their largest absolute value over the texts (each run alone)."""
    import onnx

    names = list(weight_inputs(onnx.load(str(fp32))))
    shares: dict[str, list[Any]] = {name: [] for name in names}
    for name, value in activations(fp32, names, tokenizer_file, texts):
        rows = value.reshape(-1, value.shape[-1])
        half = (rows.max(axis=1) - rows.min(axis=1)) / 2
        shares[name].append(half / np.maximum(np.abs(rows).max(axis=1), 1e-12))
    return {name for name, parts in shares.items() if parts and np.concatenate(parts).mean() < RANGE_SHARE}


def center(model: Any, inputs: set[str]) -> int:
    """Centre each of ``inputs`` (inputs of MatMuls with a constant weight) in a loaded fp32 ``onnx.ModelProto``, in
    place, once per input however many MatMuls read it; returns the number of inputs centred."""
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    groups = {name: nodes for name, nodes in weight_inputs(model).items() if name in inputs}
    graph.initializer.append(numpy_helper.from_array(np.array(0.5, dtype=np.float32), HALF))
    before: dict[int, list[Any]] = {}  # id of a group's first MatMul -> the nodes computing its centred input
    after: dict[int, list[Any]] = {}  # id of a MatMul -> the nodes adding the shift's product back
    for number, (name, nodes) in enumerate(groups.items()):
        p = f"centring_{number}"
        before[id(nodes[0])] = [
            helper.make_node("ReduceMax", [name], [p + "_max"], name=p + "_max", keepdims=1, axes=[-1]),
            helper.make_node("ReduceMin", [name], [p + "_min"], name=p + "_min", keepdims=1, axes=[-1]),
            helper.make_node("Add", [p + "_max", p + "_min"], [p + "_sum"], name=p + "_sum"),
            helper.make_node("Mul", [p + "_sum", HALF], [p + "_mid"], name=p + "_mid"),
            helper.make_node("Sub", [name, p + "_mid"], [p], name=p),
        ]
        for node in nodes:
            weight = node.input[1]
            sums = numpy_helper.to_array(weights[weight]).sum(axis=0).astype(np.float32)
            graph.initializer.append(numpy_helper.from_array(sums, weight + COLUMN_SUMS))
            out = node.output[0]
            node.input[0], node.output[0] = p, out + "_centred"
            after[id(node)] = [
                helper.make_node("Mul", [p + "_mid", weight + COLUMN_SUMS], [out + "_shift"], name=out + "_shift"),
                helper.make_node("Add", [out + "_centred", out + "_shift"], [out], name=out + "_restore"),
            ]
    ordered: list[Any] = []
    for node in graph.node:
        ordered += [*before.get(id(node), []), node, *after.get(id(node), [])]
    del graph.node[:]
    graph.node.extend(ordered)
    return len(groups)


def match_column_sums(model: Any) -> int:
    """Set each centred MatMul's column sums to those of its int8 weights as dequantised (``(q - zero) * scale``,
    as onnxruntime's ``quantize_dynamic`` names them), in place; returns the number of weights matched."""
    from onnx import numpy_helper

    inits = {init.name: init for init in model.graph.initializer}
    matched = 0
    for name, init in inits.items():
        if not name.endswith(COLUMN_SUMS):
            continue
        weight = name.removesuffix(COLUMN_SUMS)
        names = [weight + suffix for suffix in ("_quantized", "_scale", "_zero_point")]
        if any(part not in inits for part in names):
            raise ValueError(f"weight {weight} of a centred MatMul was not quantised as expected")
        q, scale, zero = (numpy_helper.to_array(inits[part]).astype(np.float32) for part in names)
        if q.ndim != 2 or scale.size not in (1, q.shape[1]) or zero.size not in (1, q.shape[1]):
            raise ValueError(f"weight {weight}: scales of shape {scale.shape} for int8 weights of shape {q.shape}")
        sums = ((q - zero.reshape(-1)) * scale.reshape(-1)).sum(axis=0).astype(np.float32)
        init.CopyFrom(numpy_helper.from_array(sums, name))
        matched += 1
    return matched
