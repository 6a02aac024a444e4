"""Per-token activation quantisation: a rewrite of a dynamic-int8 ONNX model so no token's scale depends on another's.

ONNX Runtime's dynamic quantisation picks one activation scale per call (``DynamicQuantizeLinear``), so a text's
vector would depend on whatever it is batched or padded with. The rewrite replaces each such node with a symmetric
quantiser per token (scale = max |x| over the hidden axis / 127, zero point a constant 128, one QuantizeLinear
per row): a row's integers and scale then depend on that row alone. The weight-scale ``Mul`` keeps a scalar 1 for
the activation scale (ORT fuses MatMulInteger + Mul into MatMulIntegerToFloat, which reads a 1-D activation scale
as per-column: cosines to fp32 fell to 0.68-0.80) and the token scale is multiplied in by a ``Mul`` of its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ONE = "pt_one"  # the scalar 1 standing for the activation scale in each weight-scale Mul
CONSTANTS = {"pt_q127": 127.0, "pt_eps": 1e-8, ONE: 1.0}


def quantiser(name: str, x: str, q: str, scale: str, zero: str) -> list[Any]:
    """Nodes quantising a ``[batch, tokens, hidden]`` tensor ``x`` per token to uint8 around a zero point of 128:
    the scale from max |x| per token, then one per-row QuantizeLinear over a 2-D view (three passes, not seven)."""
    from onnx import helper

    p = name + "_pt"
    return [
        helper.make_node("Abs", [x], [p + "_abs"], name=p + "_abs"),
        helper.make_node("ReduceMax", [p + "_abs"], [p + "_max"], name=p + "_max", keepdims=1, axes=[-1]),
        helper.make_node("Max", [p + "_max", "pt_eps"], [p + "_maxe"], name=p + "_maxe"),
        helper.make_node("Div", [p + "_maxe", "pt_q127"], [scale], name=p + "_scale"),
        helper.make_node("Shape", [x], [p + "_shape"], name=p + "_shape"),
        helper.make_node("Flatten", [x], [p + "_x2"], name=p + "_x2", axis=2),
        helper.make_node("Reshape", [scale, "pt_1d"], [p + "_s1"], name=p + "_s1"),
        helper.make_node("Shape", [p + "_s1"], [p + "_n"], name=p + "_n"),
        helper.make_node("Expand", ["pt_zp128", p + "_n"], [p + "_zp1"], name=p + "_zp1"),
        helper.make_node("QuantizeLinear", [p + "_x2", p + "_s1", p + "_zp1"], [p + "_q2"], name=p + "_q", axis=0),
        helper.make_node("Reshape", [p + "_q2", p + "_shape"], [q], name=p + "_q3"),
        helper.make_node("Identity", ["pt_zp128"], [zero], name=p + "_zp"),
    ]


def rewrite_per_token(model: Any) -> int:
    """Rewrite a loaded dynamic-int8 ``onnx.ModelProto`` in place to per-token activation scales; nodes rewritten."""
    from onnx import helper, numpy_helper

    graph = model.graph
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph.initializer.extend(numpy_helper.from_array(np.array(v, dtype=np.float32), k) for k, v in CONSTANTS.items())
    graph.initializer.append(numpy_helper.from_array(np.array(128, dtype=np.uint8), "pt_zp128"))
    graph.initializer.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "pt_1d"))
    token_scale: dict[str, str] = {}  # output of a Mul applying the weight scales -> the token scale to apply after
    for node in graph.node:
        if node.op_type == "DynamicQuantizeLinear":
            scale = node.output[1]
            for mul in consumers[scale]:
                if mul.op_type != "Mul":
                    raise ValueError(f"unexpected consumer {mul.op_type} of activation scale {scale}")
                mul.input[list(mul.input).index(scale)] = ONE
                for after in consumers[mul.output[0]]:
                    token_scale[after.output[0]] = scale
    nodes: list[Any] = []
    rewritten = 0
    for node in graph.node:
        if node.op_type == "DynamicQuantizeLinear":
            nodes += quantiser(node.name, node.input[0], *node.output)
            rewritten += 1
        elif node.op_type == "Mul" and node.output[0] in token_scale:
            out = node.output[0]
            node.output[0] = out + "_pt_w"
            nodes += [node, helper.make_node("Mul", [out + "_pt_w", token_scale[out]], [out], name=node.name + "_tok")]
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return rewritten
