"""`qa serve --workers 2`: two processes over one mapped index answer as one engine does, roll to a new generation
(after a write, and after a rebuild by another process) under load without a failed request, each seen serving it,
and share keep-alive clients evenly."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import WITHOUT_IPC_LOCK, locked_bytes, snapshot_bytes

from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.store.embedding import SentenceEncoder
from qa.store.manifest import read_manifest

KEY = "workers-test-key-0123456789"
QUESTIONS = ["Who led the long march to Islamabad?", "What did the otters do?", "Where is the port?"]
CLOSE = {"Connection": "close"}  # a fresh connection each time: the kernel picks the worker anew
PROBES = 300  # most fresh connections tried before concluding a worker was never seen
KEEP_ALIVE = 32  # keep-alive clients opened one after another in the balance test


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    """The processes ``pid`` forked (its workers)."""
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def seen_by_every_worker(base: str, workers: list[int], holds: Callable[[dict[str, Any]], bool]) -> dict[int, Any]:
    """Open fresh connections until every worker has answered /readyz with a body that ``holds``; the last bodies.

    Bounded: at most PROBES connections; the bodies of the workers seen are returned either way.
    """
    latest: dict[int, Any] = {}
    for _ in range(PROBES):
        ready = httpx.get(f"{base}/readyz", headers=CLOSE, timeout=30).json()  # a busy machine can be slow
        latest[ready["pid"]] = ready
        if set(workers) <= {pid for pid, body in latest.items() if holds(body)}:
            break
        time.sleep(0.02)
    return latest


class Load:
    """Client threads asking on fresh connections and probing /readyz, until stopped; every non-200 is kept."""

    def __init__(self, base: str, threads: int = 3) -> None:
        self.base = base
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.answered = 0
        self.seen: set[tuple[int, str, int]] = set()  # (worker, generation, revision) observed under load
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, number: int) -> None:
        with httpx.Client(base_url=self.base, timeout=60, headers=CLOSE) as client:
            while not self.stop.is_set():
                try:
                    reply = client.post("/ask", json={"question": QUESTIONS[number % len(QUESTIONS)], "top_k": 5})
                    ready = client.get("/readyz")
                except httpx.TransportError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                for r in (reply, ready):
                    if r.status_code != 200:
                        self.failures.append(f"{r.request.url.path} {r.status_code} {r.text[:300]}")
                self.answered += 1
                if ready.status_code == 200:
                    body = ready.json()
                    self.seen.add((body["pid"], body["generation"], body["revision"]))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def reaching(self, workers: list[int], seconds: float = 60) -> None:
        """Wait until the load has probed every worker (bounded), so that it is on both before the swap."""
        deadline = time.monotonic() + seconds
        while not set(workers) <= {pid for pid, _, _ in set(self.seen)} and time.monotonic() < deadline:
            time.sleep(0.05)

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=90)


@contextlib.contextmanager
def serving(settings: Settings, log: Path, *, extra: Sequence[str] = ()) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`qa serve --workers 2` (torch backend, ``settings``' index, ``extra`` arguments) on a loopback port, once
    ready; stopped with SIGTERM after.

    Its log goes to a file: a pipe nobody reads fills up after a few hundred requests, and then every thread that
    logs (the access line of each request included) waits for it.
    """
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "QA_WORKERS": "2",
        "QA_EMBED_BACKEND": "torch",
        "QA_API_KEYS": KEY,
        "QA_REFRESH_SECONDS": "0.2",
        "HF_HUB_OFFLINE": "1",
        "PYTHONFAULTHANDLER": "1",  # a worker that hangs is ended with SIGABRT below: its threads' stacks
    }
    argv = [sys.executable, "-m", "qa.terminal.cli", "serve", "--no-build", "--port", str(port), *extra]
    argv += ["--index", str(settings.build.index_dir), "--corpus", str(settings.build.corpus_dir)]
    with log.open("w") as sink:
        server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=sink, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        while len(children(server.pid)) < 2 and time.monotonic() < deadline:  # the second starts after the first
            time.sleep(0.2)
        yield base, server
    finally:
        workers = children(server.pid) if server.poll() is None else []
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            for pid in children(server.pid) or workers:
                os.kill(pid, signal.SIGABRT)
            time.sleep(2)
            server.kill()
            server.wait(timeout=30)
            stacks = log.read_text(errors="replace")[-12000:]
            pytest.fail(f"qa serve did not stop on SIGTERM; the end of its log, stacks of its workers:\n{stacks}")


@pytest.fixture
def two_workers(living_settings: Settings, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`qa serve --workers 2` over the fixtures' index (see :func:`serving`)."""
    with serving(living_settings, tmp_path / "serve.log") as served:
        yield served


def test_two_workers_share_the_index_and_roll_to_a_write(
    living_settings: Settings, engine: Engine, two_workers: tuple[str, Any]
) -> None:
    settings = living_settings
    base, server = two_workers
    workers = children(server.pid)
    assert len(workers) == 2
    files = read_manifest(settings.build.index_dir).files

    def mapping(pid: int) -> bool:
        maps = Path(f"/proc/{pid}/maps").read_text()
        return files["dense"] in maps and files["sentence_vectors"] in maps

    deadline = time.monotonic() + 120
    while not all(mapping(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert all(mapping(p) for p in workers)  # both map the same vector files: one copy in the page cache
    ready = seen_by_every_worker(base, workers, lambda body: body["revision"] == 0)
    assert set(ready) == set(workers), f"not every worker answered: {sorted(ready)} of {workers}"
    # Fresh connections land on either worker; every answer equals the in-process engine's.
    wanted = {question: engine.ask(question, 5).answer for question in QUESTIONS}
    for _ in range(3):
        for question in QUESTIONS:
            got = httpx.post(f"{base}/ask", json={"question": question, "top_k": 5}, headers=CLOSE)
            assert got.status_code == 200
            assert got.json()["answer"] == wanted[question]

    # A write through one worker: both serve it (revision 1), no request fails meanwhile.
    text = "Kites filled the sky over the harbour all weekend. The festival drew nine thousand visitors to the pier."
    with Load(base) as load:
        load.reaching(workers)
        added = httpx.post(
            f"{base}/documents", json={"id": "kites", "text": text}, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert added.status_code in (200, 201), added.text
        after_write = seen_by_every_worker(base, workers, lambda body: body["revision"] == 1)
        time.sleep(0.5)
    assert load.failures == []
    assert {pid for pid, body in after_write.items() if body["revision"] == 1} == set(workers), after_write
    assert all(body["documents"] == 6 for body in after_write.values())  # the kites article, through either worker
    assert {pid for pid, _, _ in load.seen} == set(workers), "the load did not reach both workers"
    assert {rev for _, _, rev in load.seen} == {0, 1}, "the load did not straddle the write"
    assert children(server.pid) == workers  # no worker died on the way


def test_two_workers_roll_to_a_rebuilt_generation_under_load(
    living_settings: Settings, encoder: SentenceEncoder, two_workers: tuple[str, Any], tmp_path: Path
) -> None:
    settings = living_settings
    base, server = two_workers
    workers = children(server.pid)
    first = read_manifest(settings.build.index_dir).generation
    ready = seen_by_every_worker(base, workers, lambda body: body["generation"] == first)
    assert set(ready) == set(workers), f"not every worker answered: {sorted(ready)} of {workers}"
    # Another process rebuilds the folder (here: this test, from the two shortest seed articles, so that it is
    # quick and the new generation is told apart by its count); the workers move to it under load.
    smaller = tmp_path / "corpus"
    smaller.mkdir()
    for path in sorted(settings.build.corpus_dir.iterdir(), key=lambda p: p.stat().st_size)[:2]:
        shutil.copy(path, smaller)
    with Load(base) as load:
        load.reaching(workers)
        rebuilt = Engine.build(settings.replace(corpus_dir=smaller), encoder).generation
        assert rebuilt != first
        after_build = seen_by_every_worker(base, workers, lambda body: body["generation"] == rebuilt)
        time.sleep(0.5)
    assert load.failures == []
    assert {pid for pid, body in after_build.items() if body["generation"] == rebuilt} == set(workers), after_build
    assert all(body["documents"] == 2 for body in after_build.values())
    assert {pid for pid, _, _ in load.seen} == set(workers), "the load did not reach both workers"
    assert {gen for _, gen, _ in load.seen} == {first, rebuilt}, "the load did not straddle the rebuild"
    assert children(server.pid) == workers  # no worker died on the way


def test_keep_alive_clients_spread_evenly_over_the_workers(two_workers: tuple[str, Any]) -> None:
    """Each new connection goes to the worker with fewer open (with a socket per worker, SO_REUSEPORT's hash of the
    client's address split 16 keep-alive clients 10 / 6 and the busier worker's clients waited longer)."""
    base, server = two_workers
    workers = children(server.pid)
    clients: list[httpx.Client] = []
    pids: list[int] = []
    try:
        for _ in range(KEEP_ALIVE):  # one after another, each kept open: the next sees both workers' counts
            client = httpx.Client(base_url=base, timeout=30)
            clients.append(client)
            pids.append(client.get("/readyz").json()["pid"])
        again = [client.get("/readyz").json()["pid"] for client in clients]
    finally:
        for client in clients:
            client.close()
    assert again == pids, "a keep-alive client changed worker"
    assert set(pids) == set(workers)
    # After an even number of connections both workers hold as many; the next goes to either, the one after that to
    # the other. A hash puts each pair on two workers half the time: 15 of 16 pairs by chance is 17 in 65,536. One
    # pair is let off: a worker that takes no waiting connection for 0.1 s (a stalled machine) has it taken for it.
    split = [pids[i] != pids[i + 1] for i in range(0, KEEP_ALIVE, 2)]
    assert sum(split) >= len(split) - 1, f"connections per worker in order: {pids}"
    assert max(abs(pids.count(w) - KEEP_ALIVE // 2) for w in workers) <= 1


@pytest.mark.parametrize(("flags", "scope"), [(["--lock-index"], "all"), (["--lock-index", "search"], "search")])
def test_two_workers_lock_one_copy_of_the_index_with_lock_index(
    living_settings: Settings, encoder: SentenceEncoder, tmp_path: Path, flags: list[str], scope: str
) -> None:
    """`--lock-index [search]`: each worker holds the snapshot's files of that scope locked, the same pages, and
    answers; after a rebuild by another process each holds the new snapshot's locked and has let the old one go."""
    folder = living_settings.build.index_dir
    first = snapshot_bytes(folder, scope)
    with serving(living_settings, tmp_path / "serve.log", extra=flags) as (base, server):
        workers = children(server.pid)
        assert len(workers) == 2 and [locked_bytes(pid) for pid in workers] == [first, first]
        shared = [
            int(line.split()[1])
            for pid in workers
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            if line.startswith("Shared_Clean:")
        ]
        assert all(kb * 1024 >= first for kb in shared), shared  # the locked pages are mapped by both: one copy
        reply = httpx.post(f"{base}/ask", json={"question": QUESTIONS[0]}, headers={"Authorization": f"Bearer {KEY}"})
        assert reply.status_code == 200 and reply.json()["answer"]
        smaller = tmp_path / "corpus"
        smaller.mkdir()
        for path in sorted(living_settings.build.corpus_dir.iterdir(), key=lambda p: p.stat().st_size)[:2]:
            shutil.copy(path, smaller)
        rebuilt = Engine.build(living_settings.replace(corpus_dir=smaller), encoder).generation
        seen = seen_by_every_worker(base, workers, lambda body: body["generation"] == rebuilt)
        assert {pid for pid, body in seen.items() if body["generation"] == rebuilt} == set(workers), seen
        second = snapshot_bytes(folder, scope)
        deadline = time.monotonic() + 60
        while [locked_bytes(pid) for pid in workers] != [second, second] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert second < first and [locked_bytes(pid) for pid in workers] == [second, second]


def test_a_refused_lock_stops_qa_serve_with_one_error_line(living_settings: Settings) -> None:
    """Without CAP_IPC_LOCK and with 64 KB lockable, `qa serve --lock-index` exits non-zero saying how to allow it."""
    argv = [
        *WITHOUT_IPC_LOCK,
        "prlimit",
        "--memlock=65536",
        sys.executable,
        "-m",
        "qa.terminal.cli",
        "serve",
        "--no-build",
        "--lock-index",
    ]
    argv += ["--port", str(free_port()), "--index", str(living_settings.build.index_dir)]
    argv += ["--corpus", str(living_settings.build.corpus_dir)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "QA_EMBED_BACKEND": "torch"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180, check=False)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode != 0 and len(errors) == 1, done.stderr
    assert errors[0].startswith("error: QA_LOCK_INDEX: could not lock ") and "ulimit -l unlimited" in errors[0]
