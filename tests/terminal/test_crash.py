"""Crash safety of `qa serve`: a real server process is killed with SIGKILL mid-write, again and again, and restarted.

After each restart every acknowledged write must be there exactly, nothing unacknowledged half there (a batch
whole or absent, a text one of the versions sent), every passage and citation an exact slice of its article,
and the listing, the readiness counts and the revision agree. Starting a process costs seconds of imports, so
servers are forked from a helper that imported everything once (see ``Launcher``); each is still its own process
running ``qa serve --no-build``, on a private copy of the seed index built with the default ONNX backend.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import DATA, ROOT, SEEDS

from qa.base.settings import DEFAULT_MODEL, Settings
from qa.store.onnx_encoder import OnnxEncoder
from qa.store.snapshot import build

SEED = 20240611
KILLS = 30  # kills while writes are in flight
WRITERS = 2
IDS_PER_WRITER = 6
# The server folds its journal into a new snapshot every few writes (by default: at 2,000 passages), so kills land
# in checkpoints too: the same code with lower thresholds, set in the server process.
CHECKPOINT = {"CHECKPOINT_MIN": 3, "CHECKPOINT_SHARE": 0.02}
API_KEY = "crash-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
NDJSON = {**AUTH, "content-type": "application/x-ndjson"}
START_TIMEOUT = 90.0

LAUNCHER = r"""
import json, os, sys
import onnxruntime, tokenizers, uvicorn
import qa.store.archive, qa.terminal.cli, qa.terminal.commands, qa.web.app
from qa.base.settings import DEFAULT_ENCODING
from qa.store.chunking import token_counter
token_counter(DEFAULT_ENCODING)
print(json.dumps({"ready": True}), flush=True)
while line := sys.stdin.readline():
    order = json.loads(line)
    if order["do"] == "start":
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                log = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(log, 1)
                os.dup2(log, 2)
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                os.environ.update(order["env"])
                for name, value in order["checkpoint"].items():
                    setattr(qa.store.archive, name, value)
                code = qa.terminal.cli.main(order["argv"])
            finally:
                os._exit(code)
        reply = {"pid": pid}
    else:
        _, status = os.waitpid(order["pid"], 0)
        reply = {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None, "status": status}
    print(json.dumps(reply), flush=True)
"""


class Launcher:
    """A helper process that has imported the server's code once and forks a fresh ``qa serve`` on request."""

    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {"PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
        )
        try:
            assert self._reply(START_TIMEOUT) == {"ready": True}
        except BaseException:
            self.proc.kill()
            self.proc.wait(timeout=30)
            raise

    def _reply(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"the launcher did not answer within {timeout} s"
        reply: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return reply

    def _order(self, order: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(order) + "\n")
        self.proc.stdin.flush()
        return self._reply(timeout)

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> int:
        """Fork a server running ``qa`` with these arguments; its process id."""
        order = {"do": "start", "argv": argv, "env": env, "log": str(log), "checkpoint": CHECKPOINT}
        pid: int = self._order(order)["pid"]
        return pid

    def kill(self, pid: int) -> int | None:
        """SIGKILL the server and reap it; the signal that ended it (None: it had exited by itself)."""
        os.kill(pid, signal.SIGKILL)
        found: int | None = self._order({"do": "wait", "pid": pid})["signal"]
        return found

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def onnx_seeds(onnx_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the seeds and their index built with the ONNX backend, the export cached in ``index/onnx``."""
    root = tmp_path_factory.mktemp("onnxseeds")
    shutil.copytree(SEEDS, root / "seeds")
    shutil.copytree(onnx_cache, root / "index" / "onnx")
    settings = Settings.of(corpus_dir=root / "seeds", index_dir=root / "index", embed_backend="onnx")
    build(settings.build, OnnxEncoder(DEFAULT_MODEL, settings.build.onnx_cache_dir))
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PLACES = ["Gwadar", "Quetta", "Sukkur", "Hunza", "Multan", "Thatta", "Chitral", "Kasur", "Turbat", "Mardan"]
THINGS = ["ferry", "clinic", "canal", "bridge", "school", "solar farm", "water plant", "rail link", "market", "dam"]
VERBS = ["opened", "closed", "was repaired", "was expanded", "was inspected", "was delayed", "was funded"]
WHO = ["the mayor", "a provincial minister", "the port authority", "local traders", "engineers", "the district court"]


def article(rng: random.Random, marker: str) -> tuple[str, str]:
    """A title and a short news text of random facts, carrying a marker unique to this version."""
    place, thing = rng.choice(PLACES), rng.choice(THINGS)
    sentences = [
        f"The {rng.choice(THINGS)} in {rng.choice(PLACES)} {rng.choice(VERBS)} on {rng.randint(1, 28)} "
        f"{rng.choice(['March', 'May', 'July', 'October'])} {rng.randint(2019, 2025)}, {rng.choice(WHO)} said, "
        f"at a cost of {rng.randint(2, 900)} million rupees and with {rng.randint(3, 4000)} workers."
        for _ in range(rng.choice([1, 2, 3, 4, 5, 12]))
    ]
    title = f"{place} {thing} report {marker}"
    return title, f"{title}\n\n" + " ".join(sentences) + f" Filed as {marker}."


@dataclass
class Pending:
    """A write sent but not answered when the server died: each id's state if it landed (None: deleted)."""

    kind: str
    after: dict[str, str | None]


@dataclass
class Writer:
    """A client thread writing to its own ids, one request at a time, keeping what the server acknowledged."""

    number: int
    port: int
    rng: random.Random
    state: dict[str, str | None] = field(default_factory=dict)
    pending: Pending | None = None
    sent_at: float = 0.0
    acked: int = 0
    versions: int = 0
    problems: list[str] = field(default_factory=list)
    go: threading.Event = field(default_factory=threading.Event)
    parked: threading.Event = field(default_factory=threading.Event)
    done: bool = False

    def __post_init__(self) -> None:
        self.state = {f"w{self.number}-d{i}": None for i in range(IDS_PER_WRITER)}

    def run(self) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60) as client:
            while not self.done:
                if not self.go.wait(0.05):
                    continue
                try:
                    self.write_once(client)
                except httpx.TransportError:
                    self.go.clear()  # the server is gone: wait for the next round, the write maybe applied
                    self.parked.set()

    def text(self) -> tuple[str, str]:
        self.versions += 1
        return article(self.rng, f"mk{self.number}x{self.versions}")

    def kind(self) -> str:
        """The next write: ~15% batches, 20% deletes, 30% replacements, 35% adds (as the ids' states allow)."""
        roll = self.rng.random()
        kind = "batch" if roll < 0.15 else "delete" if roll < 0.35 else "replace" if roll < 0.65 else "add"
        present = any(text is not None for text in self.state.values())
        if kind in ("delete", "replace") and not present:
            return "add"
        if kind == "add" and None not in self.state.values():
            return "replace"
        return kind

    def write_once(self, client: httpx.Client) -> None:
        kind = self.kind()
        self.sent_at = time.monotonic()
        present = [i for i, text in self.state.items() if text is not None]
        absent = [i for i, text in self.state.items() if text is None]
        if kind == "batch":
            bodies = {i: self.text() for i in self.rng.sample(list(self.state), self.rng.randint(2, 3))}
            self.pending = Pending(kind, {i: text for i, (_, text) in bodies.items()})
            lines = "".join(json.dumps({"id": i, "title": t, "text": x}) + "\n" for i, (t, x) in bodies.items())
            response, expected = client.post("/documents:batch", content=lines, headers=NDJSON), 200
        elif kind == "delete":
            doc_id = self.rng.choice(present)
            self.pending = Pending(kind, {doc_id: None})
            response, expected = client.delete(f"/documents/{doc_id}", headers=AUTH), 204
        else:
            doc_id = self.rng.choice(present if kind == "replace" else absent)
            title, text = self.text()
            self.pending = Pending(kind, {doc_id: text})
            body = {"id": doc_id, "title": title, "text": text, "date": f"2024-05-{self.rng.randint(10, 28)}"}
            if kind == "replace":
                response, expected = client.put(f"/documents/{doc_id}", json=body, headers=AUTH), 200
            else:
                response, expected = client.post("/documents", json=body, headers=AUTH), 201
        if response.status_code != expected:
            self.problems.append(f"{kind}: {response.status_code} {response.text[:300]}")
            self.go.clear()
            self.parked.set()
            return
        self.state.update(self.pending.after)
        self.pending = None
        self.acked += 1


class Server:
    """``qa serve --no-build`` over one index folder, started and SIGKILLed through the launcher."""

    def __init__(self, launcher: Launcher, root: Path, port: int) -> None:
        self.launcher, self.log, self.pid = launcher, root / "serve.log", 0
        self.argv = ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-build"]
        self.env = {
            "QA_INDEX_DIR": str(root / "index"),
            "QA_CORPUS_DIR": str(root / "seeds"),
            "QA_EMBED_BACKEND": "onnx",
            "QA_API_KEYS": API_KEY,
            "QA_WORKERS": "1",
        }
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        self.starts: list[float] = []

    def start(self, *, wait: bool = True) -> None:
        """Fork a server; with ``wait``, return once /readyz answers 200 (the seconds it took are kept)."""
        began = time.monotonic()
        self.pid = self.launcher.start(self.argv, self.env, self.log)
        while wait:
            try:
                if self.client.get("/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() - began < START_TIMEOUT, f"no /readyz within {START_TIMEOUT} s\n{self.tail()}"
            time.sleep(0.02)
        if wait:
            self.starts.append(time.monotonic() - began)

    def kill(self) -> None:
        """kill -9 the server; it must have been running (a server that died by itself is a failure)."""
        ended_by, self.pid = self.launcher.kill(self.pid), 0
        assert ended_by == signal.SIGKILL, f"the server had already exited (signal {ended_by})\n{self.tail()}"

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"


def fetch(client: httpx.Client, doc_id: str) -> dict[str, Any] | None:
    """A document with its text, or None when the server has no such id."""
    response = client.get(f"/documents/{doc_id}")
    assert response.status_code in (200, 404), response.text
    return response.json() if response.status_code == 200 else None


def check_answer(body: dict[str, Any], texts: dict[str, str]) -> None:
    """Every passage, citation and copy of a citation is the exact slice of a document the server holds."""
    for p in body["passages"]:
        assert p["doc_id"] in texts, f"passage of {p['doc_id']!r}, which is not in the archive"
        assert texts[p["doc_id"]][p["start"] : p["end"]] == p["text"], p
    for c in body["citations"]:
        assert texts[c["doc_id"]][c["start"] : c["end"]] == c["quote"], c
        for copy in c.get("copies", []):
            assert texts[copy["doc_id"]][copy["start"] : copy["end"]] == c["quote"], copy


def ask(client: httpx.Client, question: str, texts: dict[str, str], **extra: Any) -> dict[str, Any]:
    response = client.post("/ask", json={"question": question, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    check_answer(body, texts)
    return body


@dataclass
class Tally:
    """What the kills hit: writes cut off in flight, and how many of those turned out applied."""

    seed_passages: int = 0
    kills: int = 0
    startup_kills: int = 0
    mid_write: int = 0
    unanswered: int = 0
    landed: int = 0
    acked: int = 0
    generations: set[str] = field(default_factory=set)


def check_archive(server: Server, writers: list[Writer], seeds: dict[str, str], revision: int, tally: Tally) -> int:
    """Check the restarted server against what was acknowledged and what was in flight; its revision."""
    client = server.client
    ready = client.get("/readyz").json()
    listing = {d["id"] for d in client.get("/documents").json()}
    assert len(listing) == ready["documents"], (len(listing), ready)
    texts = {doc_id: (fetch(client, doc_id) or {}).get("text") for doc_id in seeds}
    assert texts == seeds, "a seed article changed"
    landed = 0
    docs: dict[str, dict[str, Any]] = {}
    for w in writers:
        observed = {doc_id: fetch(client, doc_id) for doc_id in w.state}
        now = {doc_id: None if doc is None else doc["text"] for doc_id, doc in observed.items()}
        docs |= {doc_id: doc for doc_id, doc in observed.items() if doc is not None}
        assert {i for i, t in now.items() if t is not None} == listing & set(w.state), "listing and documents differ"
        for doc_id, text in now.items():
            allowed = {w.state[doc_id]}
            if w.pending is not None and doc_id in w.pending.after:
                allowed.add(w.pending.after[doc_id])
            assert text in allowed, f"{doc_id}: text is neither the acknowledged one nor the one in flight"
        if w.pending is not None:
            applied = {now[doc_id] == after for doc_id, after in w.pending.after.items()}
            assert len(applied) == 1, f"half of a {w.pending.kind} is there: {w.pending.after.keys()} -> {now}"
            landed += applied == {True}
            tally.unanswered += 1
        w.state, w.pending = now, None
    texts |= {doc_id: doc["text"] for doc_id, doc in docs.items()}
    expected = revision + sum(w.acked for w in writers) + landed
    assert ready["revision"] == expected, f"revision {ready['revision']}, expected {expected}"
    counted = 0
    for doc_id, doc in docs.items():
        rows = ask(client, doc["title"], texts, top_k=50, filter={"doc_ids": [doc_id]})["passages"]
        assert {p["doc_id"] for p in rows} <= {doc_id}
        assert (len(rows) > 0) == (doc.get("duplicate_of") is None), (doc_id, len(rows), doc.get("duplicate_of"))
        counted += len(rows)
    assert ready["passages"] == tally.seed_passages + counted, (ready, counted)
    tally.landed += landed
    tally.generations.add(ready["generation"])
    return int(ready["revision"])


def test_acknowledged_writes_survive_kill_9(onnx_seeds: Path, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    root = tmp_path / "archive"
    shutil.copytree(onnx_seeds, root)
    questions = [json.loads(line)["question"] for line in (DATA / "dev_qa.jsonl").read_text().splitlines()]
    port = free_port()
    launcher = Launcher()
    server = Server(launcher, root, port)
    writers = [Writer(n, port, random.Random(rng.random())) for n in range(WRITERS)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in writers]
    tally = Tally()
    began = time.monotonic()
    try:
        server.start()
        ready = server.client.get("/readyz").json()
        seeds = {d["id"]: (fetch(server.client, d["id"]) or {})["text"] for d in server.client.get("/documents").json()}
        tally.seed_passages, revision = ready["passages"], ready["revision"]
        for thread in threads:
            thread.start()
        while tally.kills < KILLS:
            assert time.monotonic() - began < 900, f"only {tally.kills} kills in 900 s"
            for w in writers:
                w.acked = 0
                w.parked.clear()
                w.go.set()
            time.sleep(rng.uniform(0.05, 2.5))
            killed_at = time.monotonic()
            server.kill()
            tally.kills += 1
            for w in writers:
                assert w.parked.wait(60), f"writer {w.number} did not notice the server was gone"
                assert not w.problems, w.problems
            tally.mid_write += any(w.pending is not None and w.sent_at < killed_at for w in writers)
            tally.acked += sum(w.acked for w in writers)
            if rng.random() < 0.15:  # now and then, kill it again while it opens the index
                server.start(wait=False)
                time.sleep(rng.uniform(0.0, 2.0))
                server.kill()
                tally.startup_kills += 1
            server.start()
            revision = check_archive(server, writers, seeds, revision, tally)
            texts = seeds | {i: t for w in writers for i, t in w.state.items() if t is not None}
            ask(server.client, rng.choice(questions), texts)
            present = sorted(i for w in writers for i, t in w.state.items() if t is not None)
            if present:
                ask(server.client, (fetch(server.client, rng.choice(present)) or {})["title"], texts, top_k=10)
    finally:
        for w in writers:
            w.done = True
        for thread in threads:
            thread.join(timeout=60)
        if server.pid:  # still running (killed ones are reaped at once)
            with contextlib.suppress(AssertionError):
                server.kill()
        server.client.close()
        launcher.close()
    starts = sorted(server.starts)
    print(
        f"\n{tally.kills} kills ({tally.mid_write} with a write in flight, {tally.startup_kills} more while opening), "
        f"{tally.acked} writes acknowledged, {tally.unanswered} unanswered of which {tally.landed} had landed, "
        f"{len(tally.generations)} snapshot generations; server start median {statistics.median(starts):.2f} s, "
        f"max {starts[-1]:.2f} s; {time.monotonic() - began:.0f} s in all"
    )
    assert tally.acked >= KILLS // 2, "too few writes were acknowledged to test anything"
    assert tally.mid_write >= KILLS // 3, f"only {tally.mid_write} of {tally.kills} kills landed during a write"
    assert len(tally.generations) >= 3, "the journal was never folded into a new snapshot under the kills"
