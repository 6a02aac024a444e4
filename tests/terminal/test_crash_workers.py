"""Crash safety of `qa serve --workers 2`: kill -9 of the whole server (supervisor and both workers) mid-write, and
of one worker under load; no acknowledged write is lost, and every worker serves the last complete state after.

The machinery (launcher, writers, the archive check) is the one-worker crash test's (``test_crash.py``); kills here
are fewer, so each test stays within a minute.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import SEEDS
from test_crash import Launcher, Server, Tally, Writer, check_archive, fetch, free_port
from test_workers import CLOSE, PROBES, children, seen_by_every_worker

from qa.base.settings import DEFAULT_MODEL, Settings
from qa.store.onnx_encoder import OnnxEncoder
from qa.store.snapshot import build

SEED = 20261202
KILLS = 3  # of each kind; a restart of two workers takes seconds
WRITERS = 2
GONE_SECONDS = 10.0


@pytest.fixture(scope="module")
def seeded(onnx_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the seeds and their index built with the ONNX backend, the export cached in ``index/onnx``."""
    root = tmp_path_factory.mktemp("onnxseeds2")
    shutil.copytree(SEEDS, root / "seeds")
    shutil.copytree(onnx_cache, root / "index" / "onnx")
    settings = Settings.of(corpus_dir=root / "seeds", index_dir=root / "index", embed_backend="onnx")
    build(settings.build, OnnxEncoder(DEFAULT_MODEL, settings.build.onnx_cache_dir))
    return root


class Paced(Writer):
    """A writer that stops between writes when told, saying so (``parked``), and notes the worker it writes to."""

    worker = 0

    def run(self) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60) as client:
            while not self.done:
                if not self.go.is_set():
                    self.parked.set()
                    time.sleep(0.01)
                    continue
                try:
                    self.worker = int(client.get("/readyz").json()["pid"])  # same connection: the worker written to
                    self.write_once(client)
                except httpx.TransportError:
                    self.go.clear()  # the worker is gone: stop for this round, the write maybe applied
                    self.parked.set()

    def start_round(self) -> None:
        self.acked = 0
        self.go.set()

    def stop_round(self) -> None:
        """Stop writing and wait until the request in flight, if any, has been answered or cut off."""
        self.go.clear()
        self.parked.clear()
        assert self.parked.wait(60), f"writer {self.number} did not stop"
        assert not self.problems, self.problems


def gone(pid: int) -> bool:
    """True when the process has exited (or is a zombie: its sockets are closed)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


@pytest.fixture
def two_worker_server(seeded: Path, tmp_path: Path) -> Iterator[tuple[Server, list[Paced]]]:
    """A two-worker server (through the crash test's launcher) over a private copy of the seeds, and its writers."""
    root = tmp_path / "archive"
    shutil.copytree(seeded, root)
    port = free_port()
    launcher = Launcher()
    server = Server(launcher, root, port)
    server.env["QA_WORKERS"] = "2"
    server.env["QA_REFRESH_SECONDS"] = "0.2"
    rng = random.Random(SEED)
    writers = [Paced(n, port, random.Random(rng.random())) for n in range(WRITERS)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in writers]
    try:
        server.start()
        for t in threads:
            t.start()
        yield server, writers
    finally:
        for w in writers:
            w.done = True
        for t in threads:
            t.join(timeout=60)
        if server.pid:
            workers = children(server.pid)
            server.kill()
            for pid in workers:
                with_timeout(lambda p=pid: gone(p), GONE_SECONDS)
        server.client.close()
        launcher.close()


def with_timeout(done: Any, seconds: float) -> bool:
    """Poll ``done()`` until it is true or ``seconds`` pass; its last value."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def both_ready(server: Server) -> list[int]:
    """Wait until the server has two workers that both answer; their pids."""
    assert with_timeout(lambda: len(children(server.pid)) == 2, 60), "the second worker never started"
    workers = children(server.pid)
    base = str(server.client.base_url).rstrip("/")
    answered = seen_by_every_worker(base, workers, lambda body: body["status"] == "ready")
    assert set(answered) == set(workers), f"not every worker answered: {sorted(answered)} of {workers}"
    return workers


def every_worker_agrees(server: Server, workers: list[int]) -> dict[str, Any]:
    """Wait until every worker serves the same state (documents, passages, revision, generation); that state."""
    keys = ("documents", "passages", "revision", "generation")
    base = str(server.client.base_url).rstrip("/")
    latest: dict[int, dict[str, Any]] = {}
    for _ in range(PROBES):
        body = httpx.get(f"{base}/readyz", headers=CLOSE).json()
        latest[body["pid"]] = {k: body[k] for k in keys}
        if set(latest) == set(workers) and len({tuple(v.values()) for v in latest.values()}) == 1:
            return latest[workers[0]]
        time.sleep(0.02)
    raise AssertionError(f"the workers {workers} never served one state: {latest}")


def in_flight(writers: list[Paced], seconds: float) -> Paced | None:
    """Wait up to ``seconds`` for a writer with a write sent and not yet answered; that writer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for w in writers:
            if w.pending is not None and w.go.is_set():
                return w
        time.sleep(0.005)
    return None


def begin(server: Server, writers: list[Paced]) -> tuple[dict[str, str], int, Tally]:
    """The seed texts and revision at start, and an empty tally."""
    ready = server.client.get("/readyz").json()
    seeds = {d["id"]: (fetch(server.client, d["id"]) or {})["text"] for d in server.client.get("/documents").json()}
    return seeds, int(ready["revision"]), Tally(seed_passages=ready["passages"])


def test_acknowledged_writes_survive_kill_9_of_the_whole_server(two_worker_server: tuple[Server, list[Paced]]) -> None:
    server, writers = two_worker_server
    rng = random.Random(SEED + 1)
    began = time.monotonic()
    both_ready(server)
    seeds, revision, tally = begin(server, writers)
    while tally.kills < KILLS:
        for w in writers:
            w.start_round()
        time.sleep(rng.uniform(0.2, 1.0))
        writing = in_flight(writers, 10)
        time.sleep(rng.uniform(0.0, 0.1))
        workers = children(server.pid)
        for pid in workers:  # the workers first: the supervisor waits a second before it starts one again
            os.kill(pid, signal.SIGKILL)
        server.kill()
        assert all(with_timeout(lambda p=pid: gone(p), GONE_SECONDS) for pid in workers), "a worker outlived kill -9"
        tally.kills += 1
        for w in writers:
            w.stop_round()
        tally.mid_write += writing is not None and writing.pending is not None  # still unanswered: cut off
        tally.acked += sum(w.acked for w in writers)
        server.client.close()
        server.client = httpx.Client(base_url=server.client.base_url, timeout=60)
        server.start()
        workers = both_ready(server)
        state = every_worker_agrees(server, workers)
        revision = check_archive(server, writers, seeds, revision, tally)
        assert state["revision"] == revision  # both workers serve the last complete state
    print(
        f"\n{tally.kills} kills of supervisor and workers ({tally.mid_write} with a write in flight), "
        f"{tally.acked} writes acknowledged, {tally.unanswered} unanswered of which {tally.landed} had landed; "
        f"{time.monotonic() - began:.0f} s"
    )
    assert tally.acked >= KILLS, "too few writes were acknowledged to test anything"
    assert tally.mid_write >= 1, "no kill landed during a write"


def test_a_killed_worker_is_restarted_and_loses_no_acknowledged_write(
    two_worker_server: tuple[Server, list[Paced]],
) -> None:
    server, writers = two_worker_server
    rng = random.Random(SEED + 2)
    began = time.monotonic()
    supervisor = server.pid
    workers = both_ready(server)
    seeds, revision, tally = begin(server, writers)
    while tally.kills < KILLS:
        for w in writers:
            w.start_round()
        time.sleep(rng.uniform(0.2, 1.0))
        writing = in_flight(writers, 10)
        time.sleep(rng.uniform(0.0, 0.1))
        victim = writing.worker if writing is not None and writing.worker in workers else rng.choice(workers)
        os.kill(victim, signal.SIGKILL)  # the other worker keeps serving the other writer meanwhile
        tally.kills += 1
        for w in writers:
            w.stop_round()
        tally.mid_write += writing is not None and writing.pending is not None and writing.worker == victim
        tally.acked += sum(w.acked for w in writers)
        assert with_timeout(lambda v=victim: v not in children(supervisor) and len(children(supervisor)) == 2, 60), (
            f"worker {victim} was not replaced\n{server.tail()}"
        )
        assert server.pid == supervisor and not gone(supervisor)
        server.client.close()  # its connection may have been to the killed worker
        server.client = httpx.Client(base_url=server.client.base_url, timeout=60)
        workers = both_ready(server)
        assert victim not in workers
        state = every_worker_agrees(server, workers)  # the writers are stopped: both catch up with the disk
        revision = check_archive(server, writers, seeds, revision, tally)
        assert state["revision"] == revision
    print(
        f"\n{tally.kills} kills of one worker ({tally.mid_write} during a write it was serving), "
        f"{tally.acked} writes acknowledged, {tally.unanswered} unanswered of which {tally.landed} had landed; "
        f"{time.monotonic() - began:.0f} s"
    )
    assert tally.acked >= KILLS, "too few writes were acknowledged to test anything"
    assert tally.mid_write >= 1, "no kill landed during a write the killed worker was serving"
