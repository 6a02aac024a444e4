"""Activation smoothing before int8: per-channel scales moved from a MatMul's input into its weights (SmoothQuant).

A few hidden channels of a transformer carry values many times larger than the rest, so a per-token int8 scale
(set by the largest value of the token) leaves the other channels a handful of levels. For each group of MatMuls
reading one input ``X`` with weights ``W``, channel ``j`` is divided by ``s_j = max|X_j| ** alpha / max|W_j| **
(1 - alpha)`` and row ``j`` of every ``W`` multiplied by it: ``(X / s) @ (s W) = X @ W`` exactly in fp32, while the
quantised product loses less. ``max|X_j|`` comes from a fixed set of calibration texts (``calibration.txt``, made
by ``bench/make_calibration.py`` from the shared data) run through the fp32 model, so the scales are constants of
the model: a text's vector still depends on that text alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # the exported model's inputs
ALPHA = 0.6  # bench/README.md "Encoder fidelity": 0.3 to 0.9 tried; 0.6 closest to fp32 on long and short texts alike
CALIBRATION = "calibration.txt"
MAX_TOKENS = 256
SCALE_RANGE = (1e-2, 1e2)  # a channel's scale stays within this, so no weight row is blown up or zeroed


def unpadded_inputs(ids: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[np.int64]]:
    """The model's inputs for rows of token ids of one length: no padding, so every token is attended, one segment."""
    return dict(zip(INPUTS, (ids, np.ones_like(ids), np.zeros_like(ids)), strict=True))


def calibration_texts() -> list[str]:
    """The fixed calibration texts shipped with the package, one per line."""
    text = resources.files("qa.store").joinpath(CALIBRATION).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def smooth(fp32: Path, out: Path, tokenizer_file: Path, texts: list[str], alpha: float = ALPHA) -> int:
    """Write ``fp32`` with every weight-MatMul group's input smoothed to ``out``; returns the number of groups."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(fp32))
    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    groups: dict[str, list[Any]] = {}  # input name -> the MatMuls reading it with a constant weight, in graph order
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights:
            groups.setdefault(node.input[0], []).append(node)
    peaks = _input_peaks(fp32, list(groups), tokenizer_file, texts)
    divide: dict[str, Any] = {}  # smoothed name -> its Mul node, placed before the group's first MatMul
    for number, (name, nodes) in enumerate(groups.items()):
        arrays = [numpy_helper.to_array(weights[node.input[1]]) for node in nodes]
        weight_peak = np.max([np.abs(w).max(axis=1) for w in arrays], axis=0)
        scale = np.maximum(peaks[name], 1e-5) ** alpha / np.maximum(weight_peak, 1e-5) ** (1 - alpha)
        scale = np.clip(scale, *SCALE_RANGE).astype(np.float32)
        smoothed, inverse = f"smooth_{number}", f"smooth_{number}_inverse"
        graph.initializer.append(numpy_helper.from_array((1 / scale).astype(np.float32), inverse))
        divide[smoothed] = helper.make_node("Mul", [name, inverse], [smoothed], name=smoothed)
        for node, array in zip(nodes, arrays, strict=True):
            weights[node.input[1]].CopyFrom(numpy_helper.from_array(array * scale[:, None], node.input[1]))
            node.input[0] = smoothed
    ordered: list[Any] = []
    for node in graph.node:
        ordered += [divide.pop(name) for name in node.input if name in divide]
        ordered.append(node)
    del graph.node[:]
    graph.node.extend(ordered)
    onnx.save(model, str(out))
    return len(groups)


def _input_peaks(fp32: Path, names: list[str], tokenizer_file: Path, texts: list[str]) -> dict[str, Any]:
    """Largest absolute value of each channel of each named tensor over the texts, each run alone (fp32)."""
    peaks: dict[str, Any] = {}
    for name, value in activations(fp32, names, tokenizer_file, texts):
        peak = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
        peaks[name] = np.maximum(peaks[name], peak) if name in peaks else peak
    return peaks


def activations(fp32: Path, names: list[str], tokenizer_file: Path, texts: list[str]) -> Iterator[tuple[str, Any]]:
    """Each named tensor's value for each text, each text run alone through the fp32 model."""
    import onnx
    import onnxruntime as ort
    from onnx import helper
    from tokenizers import Tokenizer

    probe = onnx.load(str(fp32))
    probe.graph.output.extend(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in names)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    for encoding in tokenizer.encode_batch(texts):
        ids = np.asarray([encoding.ids], dtype=np.int64)
        yield from zip(names, session.run(names, unpadded_inputs(ids)), strict=True)
