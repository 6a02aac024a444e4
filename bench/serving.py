"""What the benchmarks share to serve an index: a free loopback port, `qa serve` waited for until ready, its memory."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
QA = [sys.executable, "-c", "import sys; from qa.terminal.cli import main; sys.exit(main())"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def rollup_mb(root: int, *fields: str) -> list[float]:
    """The named ``smaps_rollup`` fields (``Pss``, ``Rss``, ``Anonymous``, ``Locked``...) in MB, summed over a process
    tree; a process that is gone counts nothing."""
    found = dict.fromkeys(fields, 0)
    for pid in tree(root):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            name = line.split(":", 1)[0]
            if name in found:
                found[name] += int(line.split()[1])
    return [found[name] / 1024 for name in fields]


def memory_mb(root: int) -> tuple[float, float]:
    """PSS and RSS in MB summed over a process tree (smaps_rollup)."""
    pss, rss = rollup_mb(root, "Pss", "Rss")
    return pss, rss


@contextlib.contextmanager
def served(
    index: Path,
    corpus: Path,
    log: Path,
    *,
    env: dict[str, str],
    within: float,
    poll: float,
    cwd: Path | None = None,
) -> Iterator[tuple[int, int, float]]:
    """``qa serve --no-build`` over ``index`` on a free loopback port, with our environment (no inherited ``QA_``
    settings) plus ``env``; (port, pid, seconds to ready) once /readyz answers within ``within`` seconds.

    ``cwd``: the folder the server runs in (its ``qa`` package is imported first, before ``PYTHONPATH``)."""
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    full |= {"PYTHONPATH": str(ROOT), "QA_INDEX_DIR": str(index), "QA_CORPUS_DIR": str(corpus), **env}
    argv = [*QA, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-build"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=full, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    try:
        began = time.monotonic()
        while time.monotonic() - began < within:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            if proc.poll() is not None:
                raise SystemExit(f"the server exited:\n{log.read_text()[-3000:]}")
            time.sleep(poll)
        else:
            raise SystemExit(f"the server was not ready within {within:.0f} s:\n{log.read_text()[-3000:]}")
        yield port, proc.pid, time.monotonic() - began
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
