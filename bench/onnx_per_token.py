"""Rewrite a dynamic-int8 ONNX model so activations are quantised per token (batch-independent); see bench/README.md.

Usage: python bench/onnx_per_token.py IN.onnx OUT.onnx. The rewrite itself is qa/store/per_token.py (what the ONNX
encoder's export applies since issue 12); this runs it on any model file, e.g. to compare quantisation recipes.
"""

from __future__ import annotations

import argparse

import onnx

from qa.store.per_token import rewrite_per_token


def per_token(src: str, dst: str) -> None:
    """Write ``src`` rewritten to per-token activation quantisation as ``dst``."""
    model = onnx.load(src)
    rewrite_per_token(model)
    onnx.checker.check_model(model)
    onnx.save(model, dst)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src")
    parser.add_argument("dst")
    args = parser.parse_args()
    per_token(args.src, args.dst)
