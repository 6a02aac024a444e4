"""`qa serve --workers 2`: two processes over one mapped index answer as one engine does, and roll to a new generation
under load without a failed request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.store.manifest import read_manifest

KEY = "workers-test-key-0123456789"
QUESTIONS = ["Who led the long march to Islamabad?", "What did the otters do?", "Where is the port?"]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_two_workers_share_the_index_and_roll_to_a_new_generation(living_settings: Settings, engine: Engine) -> None:
    settings = living_settings
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "QA_WORKERS": "2",
        "QA_EMBED_BACKEND": "torch",
        "QA_API_KEYS": KEY,
        "QA_REFRESH_SECONDS": "0.2",
        "HF_HUB_OFFLINE": "1",
    }
    argv = [sys.executable, "-m", "qa.terminal.cli", "serve", "--no-build", "--port", str(port)]
    argv += ["--index", str(settings.build.index_dir), "--corpus", str(settings.build.corpus_dir)]
    server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        time.sleep(2)  # the second worker starts once the first is ready
        workers = [int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
        assert len(workers) == 2
        files = read_manifest(settings.build.index_dir).files

        def mapping(pid: int) -> bool:
            maps = Path(f"/proc/{pid}/maps").read_text()
            return files["dense"] in maps and files["sentence_vectors"] in maps

        deadline = time.monotonic() + 120
        while not all(mapping(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert all(mapping(p) for p in workers)  # both map the same vector files: one copy in the page cache
        time.sleep(1)
        # Fresh connections land on either worker; every answer equals the in-process engine's.
        for _ in range(3):
            for question in QUESTIONS:
                got = httpx.post(
                    f"{base}/ask", json={"question": question, "top_k": 5}, headers={"Connection": "close"}
                )
                assert got.status_code == 200
                want = engine.ask(question, 5)
                assert got.json()["answer"] == want.answer
        failures: list[str] = []
        stop = threading.Event()

        def ask_forever() -> None:
            with httpx.Client(timeout=60) as client:
                while not stop.is_set():
                    reply = client.post(f"{base}/ask", json={"question": QUESTIONS[0], "top_k": 5})
                    if reply.status_code != 200:
                        failures.append(reply.text)

        clients = [threading.Thread(target=ask_forever) for _ in range(4)]
        for c in clients:
            c.start()
        text = (
            "Kites filled the sky over the harbour all weekend. The festival drew nine thousand visitors to the pier."
        )
        added = httpx.post(
            f"{base}/documents", json={"id": "kites", "text": text}, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert added.status_code in (200, 201), added.text
        time.sleep(2)
        stop.set()
        for c in clients:
            c.join()
        assert failures == []
        seen = set()
        for _ in range(12):  # both workers now serve the new generation
            ready = httpx.get(f"{base}/readyz", headers={"Connection": "close"}).json()
            seen.add(ready["revision"])
        assert seen == {1}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            pytest.fail("qa serve did not stop on SIGTERM")
