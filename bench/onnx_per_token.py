"""Rewrite a dynamic-int8 ONNX model so activations are quantised per token (batch-independent); see bench/README.md.

Usage: python bench/onnx_per_token.py IN.onnx OUT.onnx. Each DynamicQuantizeLinear becomes a symmetric per-token
quantiser (scale = max |x| over the hidden axis / 127, zero point 128); the weight-scale Mul keeps a scalar 1 for
the activation scale (ORT's MatMulIntegerToFloat fusion reads a 1-D activation scale as per-column) and the token
scale is multiplied in by a Mul of its own.
"""

from __future__ import annotations

import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CONSTANTS = {"pt_q127": 127.0, "pt_eps": 1e-8, "pt_f128": 128.0, "pt_f0": 0.0, "pt_f255": 255.0, "pt_one": 1.0}


def quantiser(name: str, x: str, q: str, scale: str, zero: str) -> list[onnx.NodeProto]:
    """Nodes quantising ``x`` per token to uint8 around a constant zero point 128."""
    p = name + "_pt"
    return [
        helper.make_node("Abs", [x], [p + "_abs"], name=p + "_abs"),
        helper.make_node("ReduceMax", [p + "_abs"], [p + "_max"], name=p + "_max", keepdims=1, axes=[-1]),
        helper.make_node("Max", [p + "_max", "pt_eps"], [p + "_maxe"], name=p + "_maxe"),
        helper.make_node("Div", [p + "_maxe", "pt_q127"], [scale], name=p + "_scale"),
        helper.make_node("Div", [x, scale], [p + "_xs"], name=p + "_xs"),
        helper.make_node("Round", [p + "_xs"], [p + "_r"], name=p + "_r"),
        helper.make_node("Add", [p + "_r", "pt_f128"], [p + "_sh"], name=p + "_sh"),
        helper.make_node("Clip", [p + "_sh", "pt_f0", "pt_f255"], [p + "_c"], name=p + "_c"),
        helper.make_node("Cast", [p + "_c"], [q], name=p + "_cast", to=TensorProto.UINT8),
        helper.make_node("Identity", ["pt_zp128"], [zero], name=p + "_zp"),
    ]


def per_token(src: str, dst: str) -> None:
    """Write ``src`` rewritten to per-token activation quantisation as ``dst``."""
    model = onnx.load(src)
    graph = model.graph
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph.initializer.extend(numpy_helper.from_array(np.array(v, dtype=np.float32), k) for k, v in CONSTANTS.items())
    graph.initializer.append(numpy_helper.from_array(np.array(128, dtype=np.uint8), "pt_zp128"))
    token_scale: dict[str, str] = {}  # output of a Mul applying the weight scales -> the token scale to apply after
    for node in graph.node:
        if node.op_type == "DynamicQuantizeLinear":
            scale = node.output[1]
            for mul in consumers[scale]:
                mul.input[list(mul.input).index(scale)] = "pt_one"
                for after in consumers[mul.output[0]]:
                    token_scale[after.output[0]] = scale
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type == "DynamicQuantizeLinear":
            nodes += quantiser(node.name, node.input[0], *node.output)
        elif node.op_type == "Mul" and node.output[0] in token_scale:
            out = node.output[0]
            node.output[0] = out + "_pt_w"
            nodes += [node, helper.make_node("Mul", [out + "_pt_w", token_scale[out]], [out], name=node.name + "_tok")]
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, dst)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src")
    parser.add_argument("dst")
    args = parser.parse_args()
    per_token(args.src, args.dst)
