"""Shared fixtures: the real bundled model, a seed index built once per session, and a small fake encoder."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from litestar import Litestar
from openai_stub import OpenAIStub

from qa.base.settings import DEFAULT_ENCODING, DEFAULT_MODEL, Settings
from qa.service.engine import Engine
from qa.store.chunking import token_counter
from qa.store.embedding import SentenceEncoder, Vectors, resolve_model
from qa.store.index import Index
from qa.store.manifest import read_manifest
from qa.store.onnx_encoder import OnnxEncoder
from qa.store.part import locked_files
from qa.store.smoothing import unpadded_inputs
from qa.store.snapshot import build

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"
COUNT = token_counter(DEFAULT_ENCODING)
# `qa serve` runs one process per core by default; tests serve from one process unless they test the workers.
os.environ.setdefault("QA_WORKERS", "1")
# Run a command without CAP_IPC_LOCK, so that RLIMIT_MEMLOCK binds (tests of QA_LOCK_INDEX being refused).
WITHOUT_IPC_LOCK = ["setpriv", "--bounding-set", "-ipc_lock", "--inh-caps", "-ipc_lock", "--"]


def locked_bytes(pid: int | str = "self") -> int:
    """Bytes a process holds locked in memory (``VmLck``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmLck:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmLck in /proc/{pid}/status")


def snapshot_bytes(folder: Path, scope: str = "all") -> int:
    """Memory the files of the snapshot the manifest in ``folder`` names that ``QA_LOCK_INDEX=scope`` locks take
    when locked: each in whole pages."""
    page = os.sysconf("SC_PAGE_SIZE")
    paths = locked_files(folder, read_manifest(folder).files, scope)
    sizes = [f.stat().st_size for p in paths for f in (sorted(p.iterdir()) if p.is_dir() else [p])]
    return sum(-(-size // page) * page for size in sizes)


class FakeEncoder:
    """Hashed bag-of-words vectors: deterministic, fast, good enough for unit tests of the plumbing."""

    name = "fake-bow"
    fingerprint = "fake-bow-v1"
    dimension = 64

    def __init__(self, max_words: int = 10_000) -> None:
        self.max_words = max_words

    def encode(self, texts: list[str], *, batch_size: int = 32) -> Vectors:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] /= norm if norm else 1.0
        return out

    def fits(self, text: str) -> bool:
        return len(text.split()) <= self.max_words


@pytest.fixture(scope="session")
def encoder() -> SentenceEncoder:
    """The real bundled all-MiniLM-L6-v2, loaded once."""
    return SentenceEncoder()


# Texts the tiny ONNX graphs of the smoothing and centring tests are run on.
TINY_TEXTS = ["The committee voted 7-2 to approve the plan.", "?", "Mitochondrial dysfunction and insulin resistance."]


def run_onnx(path: Path, text_ids: list[int]) -> list[Any]:
    """An ONNX model's outputs for one token sequence (the encoder's unpadded inputs)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, unpadded_inputs(np.asarray([text_ids], dtype=np.int64)))  # type: ignore[no-any-return]


def save_tiny_onnx(path: Path, nodes: list[Any], outputs: tuple[str, ...], arrays: dict[str, Any], hidden: int) -> None:
    """An fp32 ONNX graph of the encoder's inputs (int64 ids) with ``arrays`` as initialisers, saved to ``path``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from qa.store.onnx_encoder import INPUTS

    ints = [helper.make_tensor_value_info(n, TensorProto.INT64, [1, None]) for n in INPUTS]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, None, hidden]) for n in outputs]
    inits = [numpy_helper.from_array(v, k) for k, v in arrays.items()]
    model = helper.make_model(
        helper.make_graph(nodes, "tiny", ints, outs, inits), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    onnx.save(model, str(path))


def int8(x: Any, axis: int = -1) -> Any:
    """``x`` rounded to 255 symmetric levels per slice along ``axis``: per token for activations (axis -1), per
    output column for weights (axis 0), as the encoder's recipe quantises them."""
    scale = np.maximum(np.abs(x).max(axis=axis, keepdims=True), 1e-8) / 127
    return np.round(x / scale) * scale


@pytest.fixture(scope="session")
def tokenizer() -> Path:
    """The bundled model's tokenizer file."""
    location = resolve_model(DEFAULT_MODEL)
    assert isinstance(location, Path)
    return location / "tokenizer.json"


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the int8 export of the bundled model (exported once per session; copy, never write)."""
    folder = tmp_path_factory.mktemp("onnx") / "cache"
    OnnxEncoder(DEFAULT_MODEL, folder)
    return folder


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    """A tiny deterministic encoder for unit tests."""
    return FakeEncoder()


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Default settings over a copy of the seeds, with the index in a temporary folder."""
    root = tmp_path_factory.mktemp("seedindex")
    shutil.copytree(SEEDS, root / "seeds")
    return Settings.of(corpus_dir=root / "seeds", index_dir=root / "index", embed_backend="torch")


@pytest.fixture(scope="session")
def seed_index(seed_settings: Settings, encoder: SentenceEncoder) -> Index:
    """The seeds indexed with the real model (built and written once per session)."""
    return build(seed_settings.build, encoder)


@pytest.fixture(scope="session")
def engine(seed_settings: Settings, encoder: SentenceEncoder, seed_index: Index) -> Iterator[Engine]:
    """An engine over the seed index with the real model."""
    yield Engine(seed_settings, encoder, seed_index)


@pytest.fixture
def living_settings(seed_settings: Settings, seed_index: Index, tmp_path: Path) -> Settings:
    """Settings over a private copy of the seed index, for tests that write to it."""
    shutil.copytree(seed_settings.build.index_dir, tmp_path / "index", ignore=shutil.ignore_patterns(".lock", "onnx"))
    return seed_settings.replace(index_dir=tmp_path / "index")


@pytest.fixture
def openai_stub() -> Iterator[OpenAIStub]:
    """A scripted OpenAI chat-completions server on 127.0.0.1 (``.script(Reply...)``, ``.requests``)."""
    with OpenAIStub() as stub:
        yield stub


@contextlib.contextmanager
def served(app: Litestar, **config: object) -> Iterator[int]:
    """The app served by uvicorn on an ephemeral 127.0.0.1 port (its number), started within 30 s, then stopped."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", **config))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert server.started, "uvicorn did not start within 30 s"
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
