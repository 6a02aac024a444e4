"""Optional ONNX Runtime embedder: the bundled model exported locally, int8-quantised, cached beside the index.

Each layer's attention core and GELU are first fused into one node each (qa/store/fusion.py, still fp32); fixed
per-channel scales then move the MatMul inputs' outlier channels into the weights (qa/store/smoothing.py), lopsided
inputs are centred per token on their mid-range (qa/store/centering.py); then every MatMul runs in int8 with
activations quantised per token (qa/store/per_token.py), so no token's numbers depend on another text's, each as one
fused kernel (qa/store/fusion.py). Texts are run in batches of exactly equal token length (no padding) on
single-threaded runs, several batches at once: a text's vector is bitwise the same alone or in any batch, with any
thread count.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from qa.base.errors import ConfigError
from qa.base.files import TMP_PREFIX, remove, write_atomic, write_bytes_atomic
from qa.store.centering import center, lopsided_inputs, match_column_sums
from qa.store.embedding import Vectors, quiet_transformers, resolve_model, weights_sha256
from qa.store.fusion import fuse_attention, fuse_dequantisation
from qa.store.per_token import rewrite_per_token
from qa.store.smoothing import INPUTS, calibration_texts, smooth, unpadded_inputs

FP32_FILE = "model.fp32.onnx"
INT8_FILE = "model.int8.onnx"
META_FILE = "onnx.json"
# Change the recipe when the export or quantisation changes: older caches are re-exported. Bump VECTORS too when the
# vectors change (not for a rewrite whose outputs are bitwise the same): indexes embedded by an older recipe then no
# longer match the encoder (their vectors came from other numbers).
VECTORS = "v6"
RECIPE = (
    "torchscript-opset17/fused-attention-gelu/smoothquant-0.6/lopsided-token-centring"
    f"/matmul-qint8-per-channel-full-range/per-token-activations/fused-dequantisation/{VECTORS}"
)
BACKEND = "onnx-int8/" + VECTORS  # the fingerprint's suffix: backend and the vectors' version
THREADS = 2
BATCH_TOKENS = 4096  # at most this many tokens in one run (rows x length), so long texts run in small batches
MEAN = "pooling_mode_mean_tokens"


def export_onnx(model_folder: Path, out_dir: Path) -> Path:
    """Export the model's transformer to ONNX (fp32), quantise it to int8 and return the int8 file's path."""
    import onnx
    import torch

    quiet_transformers()
    sha = weights_sha256(model_folder)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out_dir)
    remove(out_dir / META_FILE)  # first: a half-rebuilt cache must never look fresh
    config = _read_json(model_folder / "config.json")
    write_atomic(out_dir / FP32_FILE, lambda tmp: export_fp32(model_folder, tmp))

    def write_fused(tmp: Path) -> None:
        fuse_attention(out_dir / FP32_FILE, tmp, int(config["num_attention_heads"]), int(config["hidden_size"]))

    write_atomic(out_dir / FP32_FILE, write_fused)  # attention and GELU as one node each, still fp32

    def write_smoothed(tmp: Path) -> None:
        smooth(out_dir / FP32_FILE, tmp, model_folder / "tokenizer.json", calibration_texts())

    write_atomic(out_dir / FP32_FILE, write_smoothed)  # the same model in fp32, its outliers moved into the weights

    def write_centred(tmp: Path) -> None:
        smoothed = onnx.load(str(out_dir / FP32_FILE))
        center(smoothed, lopsided_inputs(out_dir / FP32_FILE, model_folder / "tokenizer.json", calibration_texts()))
        onnx.save(smoothed, str(tmp))

    write_atomic(out_dir / FP32_FILE, write_centred)  # still the same model in fp32: each token's shift added back

    # Every MatMul of the smoothed model int8, weights per channel over the full range; then activations per token.
    def write_int8(tmp: Path) -> None:
        quantise_int8(out_dir / FP32_FILE, tmp)
        quantised = onnx.load(str(tmp))
        match_column_sums(quantised)
        rewrite_per_token(quantised)
        fuse_dequantisation(quantised)
        onnx.checker.check_model(quantised)
        onnx.save(quantised, str(tmp))

    write_atomic(out_dir / INT8_FILE, write_int8)
    remove(out_dir / FP32_FILE)  # only quantisation reads it: 90 MB the index need not carry
    meta = {"weights_sha256": sha, "recipe": RECIPE, "torch": torch.__version__}
    write_bytes_atomic(out_dir / META_FILE, json.dumps(meta, indent=2).encode())  # last: commits the cache
    return out_dir / INT8_FILE


def quantise_int8(fp32: Path, out: Path) -> None:
    """Write ``fp32`` with every weight MatMul dynamic int8 (weights per channel, full range) to ``out``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # quantize_dynamic logs a pre-processing hint on the root logger
    try:  # DefaultTensorType: the type of the fused nodes' outputs, which shape inference cannot tell
        quantize_dynamic(
            fp32, out, op_types_to_quantize=["MatMul"], per_channel=True, reduce_range=False,
            weight_type=QuantType.QInt8, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )  # fmt: skip
    finally:
        logging.disable(logging.NOTSET)


def export_fp32(model_folder: Path, out: Path) -> None:
    """Export the model's transformer as it is (fp32) to ``out``: token ids, mask and segments in, the last hidden
    state out, batch and length dynamic."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_folder), local_files_only=True, attn_implementation="eager")

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    wrapper = LastHidden().eval()  # eval: no dropout, here and when export restores the mode
    ids = torch.tensor([[101, 7592, 2088, 102, 0], [101, 1037, 2936, 6251, 102]])
    example = (ids, (ids > 0).long(), torch.zeros_like(ids))
    axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUTS, "last_hidden_state")}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(
            wrapper, example, str(out), input_names=list(INPUTS), output_names=["last_hidden_state"],
            dynamic_axes=axes, opset_version=17, do_constant_folding=True, dynamo=False,
        )  # fmt: skip


def remove_leftovers(folder: Path) -> None:
    """Delete the temporaries (``.tmp-<pid>-<name>``) of exports whose process is gone, as a crash leaves them.

    A live process's temporary is kept: another process may be exporting into the same cache right now.
    """
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        pid, dash, _name = path.name.removeprefix(TMP_PREFIX).partition("-")
        if path.name.startswith(TMP_PREFIX) and dash and pid.isdigit() and not _alive(int(pid)):
            remove(path)


def _alive(pid: int) -> bool:
    """True when a process with this id exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OverflowError:  # no process can have such an id
        return False
    return True


def cache_is_fresh(model_folder: Path, out_dir: Path, sha: str | None = None) -> bool:
    """True when ``out_dir`` holds an int8 model exported by this recipe from these exact weights."""
    try:
        meta = json.loads((out_dir / META_FILE).read_text())
    except (OSError, ValueError):
        return False
    sha = sha or weights_sha256(model_folder)
    return (
        isinstance(meta, dict)
        and meta.get("weights_sha256") == sha
        and meta.get("recipe") == RECIPE
        and (out_dir / INT8_FILE).is_file()
    )


def equal_length_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Row numbers grouped by exact length, at most ``batch_size`` rows and ``BATCH_TOKENS`` tokens a group, the
    longest texts first (so the last runs to finish are short)."""
    by_length: dict[int, list[int]] = {}
    for row, length in enumerate(lengths):
        by_length.setdefault(length, []).append(row)
    batches = []
    for length in sorted(by_length, reverse=True):
        rows = by_length[length]
        size = max(1, min(batch_size, BATCH_TOKENS // max(length, 1)))
        batches += [rows[first : first + size] for first in range(0, len(rows), size)]
    return batches


def _read_json(path: Path) -> Any:
    """A JSON file of the model folder, or None when it is absent."""
    return json.loads(path.read_text()) if path.is_file() else None


class OnnxEncoder:
    """The bundled sentence-transformers model run by ONNX Runtime in int8: mean pooling, unit length."""

    def __init__(self, name: str, cache_dir: Path, *, threads: int = THREADS) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        location = resolve_model(name)
        if not isinstance(location, Path):
            raise ConfigError(f"model {name!r} is not a local folder; the ONNX backend exports local models only")
        _check_pipeline(location)
        sha = weights_sha256(location)
        remove_leftovers(cache_dir)
        if not cache_is_fresh(location, cache_dir, sha):
            export_onnx(location, cache_dir)
        self.name = name
        self.fingerprint = f"{sha}:{BACKEND}"
        self.cache_dir = cache_dir
        st_config = _read_json(location / "sentence_bert_config.json") or {}
        self.max_tokens = int(st_config.get("max_seq_length") or 512)
        self.dimension = int(_read_json(location / "config.json")["hidden_size"])
        self._counter = Tokenizer.from_file(str(location / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._tokenizer = Tokenizer.from_file(str(location / "tokenizer.json"))
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.no_padding()
        self.threads = max(1, threads)
        options = ort.SessionOptions()
        # Each run on one thread (the caller's), several runs at once: cheaper than splitting small products, and
        # no spinning pool to fight other processes for the cores (spinning doubled a query's CPU and wall time on a
        # busy machine, bench/README.md "Throughput").
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(cache_dir / INT8_FILE), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str], *, batch_size: int = 32) -> Vectors:
        """Unit-length float32 vectors, one row per text, whatever the batch: texts share a run only with texts of
        their exact token length (at most ``batch_size`` of them), and ``threads`` runs go at once."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        batches = equal_length_batches([len(e.ids) for e in encodings], batch_size)

        def run(rows: list[int]) -> None:
            ids = np.asarray([encodings[row].ids for row in rows], dtype=np.int64)
            pooled = self._session.run(None, unpadded_inputs(ids))[0].mean(axis=1)  # (rows, dimension): no padding
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

        if self.threads == 1 or len(batches) == 1:
            for rows in batches:
                run(rows)
        else:
            with ThreadPoolExecutor(self.threads) as pool:
                list(pool.map(run, batches))  # ONNX Runtime lets go of the GIL while it runs
        return out

    def count_tokens(self, text: str) -> int:
        """Length of the text in the model's own tokens, special tokens included."""
        return len(self._counter.encode(text).ids)

    def fits(self, text: str) -> bool:
        """True when the model reads the whole text without truncating it."""
        return self.count_tokens(text) <= self.max_tokens


def _check_pipeline(folder: Path) -> None:
    """Refuse models whose sentence-transformers pipeline is not Transformer -> mean Pooling (-> Normalize)."""
    modules = _read_json(folder / "modules.json") or []
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    pooling = _read_json(folder / modules[1]["path"] / "config.json") if kinds[1:2] == ["Pooling"] else None
    modes = {k for k, v in (pooling or {}).items() if k.startswith("pooling_mode_") and v}
    if kinds[:2] != ["Transformer", "Pooling"] or kinds[2:] not in ([], ["Normalize"]) or modes != {MEAN}:
        raise ConfigError(
            f"model folder {folder} is not a mean-pooled sentence-transformers model ({kinds}, {sorted(modes)}); "
            "the ONNX backend supports only Transformer + mean Pooling (+ Normalize): use the torch backend"
        )
