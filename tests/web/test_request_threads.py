"""QA_REQUEST_THREADS: the sync handlers of a process run on that many threads, so requests in flight queue for them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import served
from litestar import get

from qa.base.errors import ConfigError
from qa.base.settings import Settings
from qa.web.app import create_app

running: list[int] = [0, 0]  # in flight now, most at once
names: set[str] = set()
lock = threading.Lock()


@get("/busy", sync_to_thread=True)
def busy() -> dict[str, str]:
    """A slow sync handler that records how many of it run at once, and on which threads."""
    with lock:
        running[0] += 1
        running[1] = max(running)
        names.add(threading.current_thread().name)
    time.sleep(0.3)
    with lock:
        running[0] -= 1
    return {"ok": "yes"}


@pytest.mark.parametrize(("threads", "model", "most"), [(3, "extractive", 3), (0, "extractive", 2), (0, "openai", 0)])
def test_sync_handlers_run_on_the_request_threads(
    seed_settings: Settings, fake_encoder: Any, tmp_path: Path, threads: int, model: str, most: int
) -> None:
    """Set: that many. Unset: two when answers are extractive (CPU work), else Python's default pool."""
    running[:] = [0, 0]
    names.clear()
    settings = seed_settings.replace(
        index_dir=tmp_path / "none", request_threads=threads, llm_model=model, llm_name="m"
    )
    app = create_app(settings, encoder=fake_encoder, handlers=[busy])
    with served(app, log_level="warning") as port, ThreadPoolExecutor(6) as pool:

        def call(_: int) -> int:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                return client.get("/busy", timeout=10).status_code

        assert list(pool.map(call, range(6))) == [200] * 6
    if most:
        assert running[1] == most  # the other requests waited for a thread
    else:
        assert running[1] > 2  # Python's default pool, min(32, cores + 4) threads
    assert all(name.startswith("qa-request") for name in names) == (most > 0)


def test_request_threads_must_not_be_negative() -> None:
    with pytest.raises(ConfigError, match="request_threads"):
        Settings.of(request_threads=-1)


held = threading.Event()


@get("/held", sync_to_thread=True)
def held_handler() -> dict[str, str]:
    """A sync handler that keeps its request thread until the test lets it go."""
    held.wait(30)
    return {"ok": "yes"}


def test_checks_before_the_handler_do_not_wait_for_a_request_thread(
    seed_settings: Settings, fake_encoder: Any, tmp_path: Path
) -> None:
    """With every request thread busy, the access guard and the JSON check still answer at once (on the loop)."""
    held.clear()
    settings = seed_settings.replace(index_dir=tmp_path / "none", request_threads=2)
    app = create_app(settings, encoder=fake_encoder, handlers=[held_handler])
    with served(app, log_level="warning") as port, ThreadPoolExecutor(2) as pool:
        base = f"http://127.0.0.1:{port}"
        busy_calls = [pool.submit(httpx.get, f"{base}/held", timeout=30) for _ in range(2)]
        try:
            time.sleep(0.3)  # both request threads are now held
            with httpx.Client(base_url=base, timeout=3) as client:
                refused = client.post("/documents", json={"text": "x"})
                not_json = client.post("/ask", content=b"question", headers={"content-type": "text/plain"})
            assert not any(call.done() for call in busy_calls)
        finally:
            held.set()
        assert [call.result().status_code for call in busy_calls] == [200, 200]
    assert refused.status_code == 403
    assert not_json.status_code == 415
