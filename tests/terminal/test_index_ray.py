"""`qa index --ray`: on a local Ray cluster and on one joined by address, the index equals a normal build."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgspec
import numpy as np
import pytest
from conftest import ROOT, SEEDS

from qa.base.records import Document
from qa.base.settings import Settings
from qa.store.encoders import open_encoder
from qa.store.manifest import read_manifest
from qa.store.part import Part
from qa.store.snapshot import build
from qa.terminal import cli

RUN_SECONDS = 300
HEAD = """
import sys, ray
ray.init(num_cpus=int(sys.argv[1]), include_dashboard=False)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the test closes stdin; leaving shuts the cluster down
"""


@pytest.fixture(scope="module")
def ray_tmp() -> Iterator[Path]:
    """A short temporary folder for Ray's sessions (its socket paths must stay short), removed after."""
    folder = Path(tempfile.mkdtemp(prefix="qa-ray-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def normal(tmp_path_factory: pytest.TempPathFactory, onnx_cache: Path) -> Settings:
    """The seeds built the normal way (ONNX, in process), the settings naming them."""
    root = tmp_path_factory.mktemp("normal")
    shutil.copytree(SEEDS, root / "seeds")
    shutil.copytree(onnx_cache, root / "index" / "onnx")
    settings = Settings.of(corpus_dir=root / "seeds", index_dir=root / "index", embed_backend="onnx")
    build(settings.build, open_encoder(settings.build))
    return settings


def environment(ray_tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process: this checkout's qa, Ray's files under ``ray_tmp``, no QA_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(cli.QUIET_ENV, PYTHONPATH=str(ROOT), RAY_TMPDIR=str(ray_tmp), RAY_AUTH_MODE="token", **extra)
    return env


def qa_index(index: Path, corpus: Path, env: dict[str, str], *ray: str) -> subprocess.CompletedProcess[str]:
    """Run `qa index --ray [ADDRESS]` as its own process group, killed whole if it overruns."""
    command = [sys.executable, "-m", "qa.terminal.cli", "index", "--corpus", str(corpus), "--index", str(index)]
    with subprocess.Popen(
        [*command, "--ray", *ray], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            out, err = proc.communicate(timeout=RUN_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"qa index --ray did not finish in {RUN_SECONDS} s: {err[-2000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def assert_same_index(built: Path, normal: Settings) -> None:
    """The index in ``built`` holds what the normal build holds: passages, sentences, vectors, documents."""
    ours, theirs = read_manifest(built), read_manifest(normal.build.index_dir)
    a, b = Part.load(built, ours.files), Part.load(normal.build.index_dir, theirs.files)
    assert a.passages == b.passages and len(a.passages) > 20  # ids, offsets and text
    assert a.sentences.spans == b.sentences.spans and len(a.sentences.spans) > 100
    assert np.abs(a.vectors() - b.vectors()).max() <= 1e-6
    assert np.abs(a.sentences.vectors - b.sentences.vectors).max() <= 1e-6
    assert a.keyword.vocab == b.keyword.vocab and np.array_equal(a.keyword.tfs, b.keyword.tfs)
    assert sorted(ours.files) == sorted(theirs.files)
    for key in ("documents", "passages", "corpus_sha256", "model_sha256", "dimension", "chunk_tokens"):
        assert getattr(ours, key) == getattr(theirs, key), key

    def documents(folder: Path, name: str) -> list[Document]:
        lines = (folder / name).read_bytes().splitlines()
        return [msgspec.structs.replace(msgspec.json.decode(x, type=Document), added_at=None, updated_at=None)
                for x in lines]  # fmt: skip

    assert documents(built, ours.files["documents"]) == documents(normal.build.index_dir, theirs.files["documents"])
    assert not [p for p in built.iterdir() if p.name.startswith(".tmp-")]  # the staging folder is gone


def fresh_index(tmp_path: Path, onnx_cache: Path) -> Path:
    """An index folder holding only the model's export (so no worker exports it again)."""
    shutil.copytree(onnx_cache, tmp_path / "index" / "onnx")
    return tmp_path / "index"


def test_index_on_a_local_ray_cluster_equals_a_normal_build(
    normal: Settings, ray_tmp: Path, onnx_cache: Path, tmp_path: Path
) -> None:
    index = fresh_index(tmp_path, onnx_cache)
    run = qa_index(index, normal.build.corpus_dir, environment(ray_tmp, QA_RAY_WORKERS="2"))
    assert run.returncode == 0, run.stderr
    assert "indexed 5 documents into" in run.stdout
    assert "on 2 workers" in run.stderr
    assert_same_index(index, normal)


@contextlib.contextmanager
def ray_head(env: dict[str, str], cpus: int) -> Iterator[str]:
    """A Ray cluster started by another process on 127.0.0.1; yields its address, shuts it down after."""
    env = {**env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # the head listens on 127.0.0.1 only
    with subprocess.Popen(
        [sys.executable, "-c", HEAD, str(cpus)], env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, start_new_session=True,
    ) as head:  # fmt: skip
        try:
            assert head.stdout is not None and head.stdin is not None
            address = head.stdout.readline().strip()
            assert address.startswith("127.0.0.1:"), address
            yield address
        finally:
            if head.stdin is not None:
                head.stdin.close()
            try:
                head.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)


def test_index_on_a_cluster_joined_by_address_equals_a_normal_build(
    normal: Settings, ray_tmp: Path, onnx_cache: Path, tmp_path: Path
) -> None:
    env = environment(ray_tmp)
    index = fresh_index(tmp_path, onnx_cache)
    with ray_head(env, cpus=2) as address:
        run = qa_index(index, normal.build.corpus_dir, env, address)
    assert run.returncode == 0, run.stderr
    assert "on 2 workers" in run.stderr  # the cluster's CPUs, not a setting
    assert_same_index(index, normal)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_cluster_is_one_error_line(
    normal: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    flags = ["--corpus", str(normal.build.corpus_dir), "--index", str(tmp_path / "index")]
    assert cli.main(["index", *flags, "--ray", f"127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot reach the Ray cluster at 127.0.0.1:{port}") and err.count("\n") == 1
    assert cli.main(["index", *flags, "--ray", "head-without-port"]) == 1
    assert "is not host:port" in capsys.readouterr().err
    assert not (tmp_path / "index").exists()


def test_without_ray_the_error_names_the_extra(
    normal: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as if it were not installed
    flags = ["--corpus", str(normal.build.corpus_dir), "--index", str(tmp_path / "index")]
    assert cli.main(["index", *flags, "--ray"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: qa index --ray needs Ray") and "articleqa[ray]" in err and err.count("\n") == 1
