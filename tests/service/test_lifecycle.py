"""Opening and building: what is checked before the model loads (index, corpus folder, a writable index folder)."""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import SEEDS, FakeEncoder

import qa
import qa.service.lifecycle
from qa.base.errors import CorpusError
from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.store.snapshot import build

TESTS = Path(__file__).resolve().parent.parent
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2  # <linux/prctl.h>, <linux/capability.h>
CHILD_PRELUDE = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
import uvicorn
import qa.service.lifecycle
from conftest import FakeEncoder
from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.terminal import cli

def no_model(*_args, **_kwargs):
    print("the model loaded", file=sys.stderr)
    raise SystemExit(3)

def no_serving(*_args, **_kwargs):
    print("uvicorn started", file=sys.stderr)
    raise SystemExit(4)

qa.service.lifecycle.open_encoder = no_model
uvicorn.run = uvicorn.Server.run = uvicorn.Server.serve = no_serving
corpus, index = sys.argv[1], sys.argv[2]
"""


def seed_corpus(folder: Path) -> Path:
    """Two seed articles in ``folder``."""
    folder.mkdir(parents=True)
    for name in ("002_f87bb952200a9f3a.txt", "003_3ad3cec4be3d9008.txt"):
        shutil.copy(SEEDS / name, folder / name)
    return folder


def add_article(corpus: Path) -> None:
    """Change the corpus, so an index built before is stale."""
    (corpus / "005_new.txt").write_text("Otters return\n\nThe otters returned to the harbour in spring.\n")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.of(corpus_dir=seed_corpus(tmp_path / "corpus"), index_dir=tmp_path / "index")


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail the test if anything loads the embedding model; the list records attempts."""
    loads: list[str] = []

    def refuse(*_args: object, **_kwargs: object) -> None:
        loads.append("model")
        pytest.fail("the embedding model was loaded before the failure")

    monkeypatch.setattr(qa.service.lifecycle, "open_encoder", refuse)
    return loads


class Counting(FakeEncoder):
    """The fake encoder, counting the texts it embeds, under another fingerprint when asked."""

    def __init__(self, fingerprint: str = FakeEncoder.fingerprint) -> None:
        super().__init__()
        self.fingerprint = fingerprint
        self.embedded = 0

    def encode(self, texts: list[str], *, batch_size: int = 32) -> object:  # type: ignore[override]
        self.embedded += len(texts)
        return super().encode(texts, batch_size=batch_size)


@pytest.fixture
def unwritable(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The index folder refuses new files, as a read-only mount does (root ignores chmod, so the OS is stood in for)."""
    real = tempfile.mkstemp

    def refuse(*args: object, dir: str | Path | None = None, **kwargs: object) -> tuple[int, str]:
        if dir is not None and Path(dir) == settings.build.index_dir:
            raise PermissionError(13, "Read-only file system", str(dir))
        return real(*args, dir=dir, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(tempfile, "mkstemp", refuse)


# A missing corpus folder.


def test_opening_with_a_missing_corpus_folder_names_qa_corpus_dir(
    settings: Settings, fake_encoder: FakeEncoder, no_model: list[str]
) -> None:
    build(settings.build, fake_encoder)
    gone = settings.replace(corpus_dir=settings.build.corpus_dir.parent / "moved")
    for building in (False, True):
        with pytest.raises(CorpusError, match=r"corpus folder .*moved does not exist.*QA_CORPUS_DIR"):
            Engine.open(gone, build=building)
    assert [d.id for d in Engine.catalogue(gone)] == ["002_f87bb952200a9f3a", "003_3ad3cec4be3d9008"]
    assert no_model == []


# A folder the index cannot be written to.


@pytest.mark.usefixtures("unwritable")
def test_stale_index_in_a_read_only_folder_fails_before_the_model_loads(
    settings: Settings, fake_encoder: FakeEncoder, no_model: list[str]
) -> None:
    build(settings.build, fake_encoder)
    add_article(settings.build.corpus_dir)
    with pytest.raises(CorpusError, match=r"cannot write the index in .*Read-only file system.*QA_INDEX_DIR"):
        Engine.open(settings, build=True)
    with pytest.raises(CorpusError, match="cannot write the index"):
        Engine.build(settings)
    assert no_model == []


@pytest.mark.usefixtures("unwritable")
def test_current_index_in_a_read_only_folder_is_served(settings: Settings) -> None:
    encoder = Counting()
    build(settings.build, encoder)
    encoder.embedded = 0
    engine = Engine.open(settings, encoder, build=True)
    assert len(engine.documents()) == 2 and encoder.embedded == 0


@pytest.mark.usefixtures("unwritable")
def test_index_of_another_model_in_a_read_only_folder_fails_before_embedding(settings: Settings) -> None:
    build(settings.build, Counting())
    other = Counting("fake-bow-v2")
    with pytest.raises(CorpusError, match="cannot write the index"):
        Engine.open(settings, other, build=True)
    assert other.embedded == 0


def test_index_under_a_regular_file_fails_before_the_model_loads(
    settings: Settings, tmp_path: Path, no_model: list[str]
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    inside = settings.replace(index_dir=blocker / "index")
    for attempt in (lambda: Engine.open(inside, build=True), lambda: Engine.build(inside)):
        with pytest.raises(CorpusError, match=f"cannot write the index in {inside.build.index_dir}: .* not a folder"):
            attempt()
    assert no_model == [] and blocker.is_file()


def test_writable_check_leaves_nothing_behind(settings: Settings, fake_encoder: FakeEncoder) -> None:
    settings.build.index_dir.mkdir()
    qa.service.lifecycle.check_before_loading(settings, build=True)
    assert list(settings.build.index_dir.iterdir()) == []
    assert not settings.build.index_dir.parent.joinpath("deeper").exists()


# The same with real permissions: a process the kernel holds to the folder's mode bits (chmod 0o555).


def drop_permission_overrides() -> None:
    """In the child before exec: give up root's power to ignore file modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def held_to_modes(code: str, corpus: Path, index: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` after the prelude in a fresh interpreter that file modes bind (root without DAC override)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["PYTHONPATH"] = str(Path(qa.__file__).resolve().parent.parent)
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", CHILD_PRELUDE.format(tests=str(TESTS)) + code, str(corpus), str(index)],
        capture_output=True, text=True, env=env, cwd=index.parent, timeout=120, check=False,
        preexec_fn=drop_permission_overrides if os.geteuid() == 0 else None,
    )  # fmt: skip


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Callable[[bool], tuple[Path, Path]]]:
    """Build a corpus's index (stale or not), then make its folder read-only (r-x for all); writable again after."""
    index = tmp_path / "ro" / "index"

    def make(stale: bool) -> tuple[Path, Path]:
        corpus = seed_corpus(tmp_path / "ro" / "corpus")
        build(Settings.of(corpus_dir=corpus, index_dir=index).build, FakeEncoder())
        if stale:
            add_article(corpus)
        index.chmod(0o555)
        return corpus, index

    yield make
    if index.exists():
        index.chmod(0o755)


def test_stale_index_in_a_read_only_folder_for_real(read_only: Callable[[bool], tuple[Path, Path]]) -> None:
    corpus, index = read_only(True)
    before = sorted(p.name for p in index.iterdir())
    trial = held_to_modes("open(index + '/trial', 'w')", corpus, index)
    assert "PermissionError" in trial.stderr, (
        "the child process can write the read-only folder: the test proves nothing"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for command in (f"'serve', '--port', '{port}'", "'index'"):
        code = f"raise SystemExit(cli.main([{command}, '--corpus', corpus, '--index', index]))"
        run = held_to_modes(code, corpus, index)
        assert run.returncode == 1, run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: cannot write the index in {index} "), run.stderr
        assert "Permission denied" in lines[0] and "QA_INDEX_DIR" in lines[0]
    assert sorted(p.name for p in index.iterdir()) == before


def test_current_index_in_a_read_only_folder_for_real(read_only: Callable[[bool], tuple[Path, Path]]) -> None:
    corpus, index = read_only(False)
    code = (
        "engine = Engine.open(Settings.of(corpus_dir=Path(corpus), index_dir=Path(index)), FakeEncoder(), build=True)\n"
    )
    run = held_to_modes(code + "print(len(engine.documents()))", corpus, index)
    assert (run.returncode, run.stdout) == (0, "2\n"), run.stderr
