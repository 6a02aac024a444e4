"""Fewer, larger kernels in the exported encoder: fused attention and GELU in fp32, fused int8 products.

``fuse_attention`` runs ONNX Runtime's transformer optimizer on the fp32 export before anything else: each layer's
attention core (scores, softmax, weighted values, the head reshapes) becomes one ``MultiHeadAttention`` and each
GELU one ``Gelu``; the query, key, value and feed-forward products stay ``MatMul`` nodes with constant weights, so
smoothing, centring and int8 treat them as before.

After the per-token rewrite (qa/store/per_token.py) every int8 product is an integer ``MatMulInteger``, a ``Cast`` of
its int32 sums to float and a ``Mul`` by the weights' per-column scales (times the scalar 1 that stands for the
activation scale). ONNX Runtime fuses that chain only behind a ``DynamicQuantizeLinear``, which the rewrite removed,
so it ran as three kernels and two extra passes over the sums. ``com.microsoft.MatMulIntegerToFloat`` with the
activation scale the scalar 1 does the same arithmetic (each sum as float, times 1 x the column's scale) in one:
the outputs are bitwise the same (tests/store/test_fusion.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qa.store.per_token import ONE

MS_DOMAIN = "com.microsoft"


def fuse_attention(fp32: Path, out: Path, heads: int, hidden: int) -> int:
    """Write ``fp32`` with its attention cores and GELUs fused to ``out``; returns the attention nodes made."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.use_multi_head_attention = True  # not the packed Attention: its QKV weights would leave the MatMuls
    for kept in (
        "enable_embed_layer_norm",
        "enable_skip_layer_norm",
        "enable_bias_skip_layer_norm",
        "enable_bias_gelu",
    ):
        setattr(options, kept, False)  # the residual and bias Adds stay where centring and int8 expect them
    model = optimize_model(
        str(fp32), model_type="bert", num_heads=heads, hidden_size=hidden, optimization_options=options, opt_level=0
    )
    fused = sum(int(node.op_type == "MultiHeadAttention") for node in model.model.graph.node)
    model.save_model_to_file(str(out))
    return fused


def fuse_dequantisation(model: Any) -> int:
    """Replace, in place, each ``MatMulInteger -> Cast -> Mul(scales)`` of a loaded ``onnx.ModelProto`` by one
    ``MatMulIntegerToFloat``; returns how many. ``scales``: ``Mul(1, initializer)``, as per_token.py makes it."""
    from onnx import helper

    graph = model.graph
    constants = {init.name for init in graph.initializer}
    if ONE not in constants:  # not a per-token graph
        return 0
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {out.name for out in graph.output}
    fused: dict[int, Any] = {}  # id of the MatMulInteger -> the node taking its place
    dropped: set[int] = set()  # ids of the Cast and Mul (and the scales' Mul once nothing else reads it) it absorbs
    for node in graph.node:
        if node.op_type != "MatMulInteger":
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
    if not fused:
        return 0
    for name, node in producer.items():  # a scales Mul all of whose readers were absorbed goes too
        readers = consumers.get(name, [])
        scaling = node.op_type == "Mul" and ONE in node.input and name not in outputs
        if scaling and readers and all(id(reader) in dropped for reader in readers):
            dropped.add(id(node))
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
    """The initializer holding the weights' scales when ``name`` is ``Mul(1, it)``, else None."""
    node = producer.get(name)
    if node is None or node.op_type != "Mul" or ONE not in node.input:
        return None
    other = node.input[1] if node.input[0] == ONE else node.input[0]
    return other if other in constants else None
