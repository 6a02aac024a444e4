"""Fused int8 products: each ``MatMulInteger -> Cast -> Mul`` of the per-token int8 model as one node.

After the per-token rewrite (qa/store/per_token.py) every int8 product is an integer ``MatMulInteger``, a ``Cast`` of
its int32 sums to float and a ``Mul`` by the weights' per-column scales (times the scalar 1 that stands for the
activation scale). ONNX Runtime fuses that chain only behind a ``DynamicQuantizeLinear``, which the rewrite removed,
so it ran as three kernels and two extra passes over the sums. ``com.microsoft.MatMulIntegerToFloat`` with the
activation scale the scalar 1 does the same arithmetic (each sum as float, times 1 x the column's scale) in one:
the outputs are bitwise the same (tests/store/test_fusion.py).
"""

from __future__ import annotations

from typing import Any

MS_DOMAIN = "com.microsoft"
ONE = "pt_one"  # the per-token rewrite's scalar 1 (qa/store/per_token.py CONSTANTS)


def fuse_dequantisation(model: Any) -> int:
    """Replace, in place, each ``MatMulInteger -> Cast -> Mul(scales)`` of a loaded ``onnx.ModelProto`` by one
    ``MatMulIntegerToFloat``; returns how many. ``scales`` is a per-column initializer, or ``Mul(1, initializer)``."""
    from onnx import helper

    graph = model.graph
    constants = {init.name for init in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {out.name for out in graph.output}
    fused: dict[int, Any] = {}  # id of the MatMulInteger -> the node taking its place
    dropped: set[int] = set()  # ids of the Cast and Mul (and the scales' Mul when nothing else reads it) it absorbs
    for node in graph.node:
        if node.op_type != "MatMulInteger" or ONE not in constants:
            continue
        chain = _chain(node, consumers, outputs)
        if chain is None:
            continue
        cast, mul = chain
        scales = mul.input[1] if mul.input[0] == cast.output[0] else mul.input[0]
        column_scales = _column_scales(scales, constants, producer)
        if column_scales is None:
            continue
        a, b, *zeros = node.input  # the zero points, when given, follow the scales
        inputs = [a, b, ONE, column_scales, *zeros]
        fused[id(node)] = helper.make_node(
            "MatMulIntegerToFloat", inputs, [mul.output[0]], name=node.name + "_to_float", domain=MS_DOMAIN
        )
        dropped |= {id(cast), id(mul)}
        if scales in producer and len(consumers[scales]) == 1 and scales not in outputs:
            dropped.add(id(producer[scales]))
    if not fused:
        return 0
    nodes = [fused.get(id(node), node) for node in graph.node if id(node) not in dropped]
    del graph.node[:]
    graph.node.extend(nodes)
    if not any(opset.domain == MS_DOMAIN for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return len(fused)


def _chain(node: Any, consumers: dict[str, list[Any]], outputs: set[str]) -> tuple[Any, Any] | None:
    """The ``Cast`` to float and the ``Mul`` reading the product's sums alone, or None when the chain is otherwise."""
    from onnx import TensorProto

    after = consumers.get(node.output[0], [])
    if len(after) != 1 or after[0].op_type != "Cast" or node.output[0] in outputs:
        return None
    cast = after[0]
    to = next((attr.i for attr in cast.attribute if attr.name == "to"), None)
    then = consumers.get(cast.output[0], [])
    if to != TensorProto.FLOAT or len(then) != 1 or then[0].op_type != "Mul" or cast.output[0] in outputs:
        return None
    return cast, then[0]


def _column_scales(name: str, constants: set[str], producer: dict[str, Any]) -> str | None:
    """The initializer holding the weights' scales behind ``name`` (itself, or ``Mul(1, it)``), else None."""
    if name in constants:
        return name
    node = producer.get(name)
    if node is None or node.op_type != "Mul" or ONE not in node.input:
        return None
    other = node.input[1] if node.input[0] == ONE else node.input[0]
    return other if other in constants else None
