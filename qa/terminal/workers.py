"""`qa serve`: one or more worker processes over one memory-mapped index, accepting from one listening socket.

With several workers, the serving process binds one socket, imports what a worker needs, then forks the workers:
they share the imported code's pages and the index files' mapped pages, so memory grows little with workers. The
first worker opens (and if need be builds) the index before the others start; the socket takes connections once
every worker is ready. The workers accept from it by least connections (qa/terminal/balance.py), so keep-alive
clients spread evenly, and connections waiting while a worker is down go to the others. Each worker follows writes
on its own, as any process over the folder does; a worker that dies is started again.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

from qa.base.errors import ConfigError, QAError
from qa.base.settings import Settings, cores
from qa.service import lifecycle
from qa.terminal.balance import Board

Progress = Callable[[str], None]
READY = b"ready\n"
PR_SET_PDEATHSIG = 1
RESTART_PAUSE = 1.0  # seconds between restarts of a worker that keeps dying, so a crash loop does not spin
BACKLOG = 2048  # connections the shared socket queues before the workers accept them (uvicorn's default)


def worker_count(settings: Settings) -> int:
    """How many workers ``qa serve`` runs: ``QA_WORKERS``, or one per core."""
    return settings.http.workers or cores()


def serve(
    settings: Settings,
    sock: socket.socket,
    *,
    build: bool,
    progress: Progress,
    ready: int = -1,
    board: tuple[Board, int] | None = None,
) -> None:
    """Open the engine (building the index when ``build`` and it is missing or stale) and serve on ``sock``: alone,
    or as worker ``number`` of a ``(board, number)`` sharing it."""
    import uvicorn

    from qa.service.engine import Engine
    from qa.terminal.balance import BalancedServer
    from qa.web.app import create_app

    engine = Engine.open(settings, build=build, progress=progress)
    progress(f"serving {len(engine.index.documents)} documents on http://{settings.http.host}:{settings.http.port}")
    app = create_app(settings, engine=engine)  # sets up the JSON logs, uvicorn's lines included
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,  # the app logs each request's own access line, with its id
        proxy_headers=True,
        forwarded_allow_ips=settings.http.forwarded_allow_ips,
        server_header=False,
    )
    gc.collect()
    gc.freeze()  # what loading made lives as long as the process: the collector need not walk it again
    if board is None:
        _tell_ready(ready)
        uvicorn.Server(config).run(sockets=[sock])
    else:  # ready once it takes part in the balancing, so that the supervisor opens the socket to all workers at once
        BalancedServer(config, sock, *board, ready=lambda: _tell_ready(ready)).run()


def _tell_ready(ready: int) -> None:
    """Tell the supervisor waiting on pipe ``ready`` (if any) that this worker serves."""
    if ready >= 0:
        with contextlib.suppress(OSError):  # a supervisor that does not wait for this worker closed its end
            os.write(ready, READY)
        os.close(ready)  # later errors have no one to tell but the log


def shared_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, not yet listening, for the workers to inherit."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class Supervisor:
    """Forks the workers, starts again any that dies, and stops them all on SIGTERM or SIGINT."""

    def __init__(self, settings: Settings, sock: socket.socket, workers: int, progress: Progress) -> None:
        self.settings = settings
        self.sock = sock
        self.workers = workers
        self.board = Board(workers)
        self.progress = progress
        self.pids: dict[int, int] = {}  # pid -> worker number
        self.stopping = False

    def run(self, *, build: bool) -> int:
        """Start the workers one by one, each once the one before has the index open; supervise until stopped.

        The socket takes connections only once every worker is ready: a keep-alive client stays with the worker that
        accepted it, so clients connecting while only the first worker served would all stay with it.
        """
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        self._prepare()
        failed = self._start(0, build=build, wait=True)
        if failed is not None:
            self._shutdown(1)
            raise QAError(failed)
        for number in range(1, self.workers):
            failed = self._start(number, build=False, wait=True)
            if failed is not None:
                self._shutdown(1)
                raise QAError(failed)
        self.sock.listen(BACKLOG)  # the workers poll for this, then accept
        self.progress(f"serving with {self.workers} workers (pids {', '.join(map(str, self.pids))})")
        while not self.stopping:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            number = self.pids.pop(pid, -1)
            if number >= 0:
                self.board.leave(number)  # the others stop deferring to its count (a restart joins again)
            if number >= 0 and status != 0 and not self.stopping:  # a worker that ended cleanly was told to
                self.progress(f"worker {number} (pid {pid}) exited with status {status}; starting it again")
                time.sleep(RESTART_PAUSE)
                if not self.stopping:
                    self._start(number, build=False, wait=False)
        return self._shutdown(0)

    def _prepare(self) -> None:
        """Import what every worker needs once, here, so the forked workers share those pages."""
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
        import uvicorn  # noqa: F401

        import qa.service.engine
        import qa.web.app  # noqa: F401

        gc.collect()
        gc.freeze()

    def _start(self, number: int, *, build: bool, wait: bool) -> str | None:
        """Fork worker ``number``; with ``wait``, once it has the index open (else: why it failed)."""
        read, write = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            os.close(read)
            os._exit(self._work(number, build=build, ready=write, parent=parent))
        os.close(write)
        self.pids[pid] = number
        if not wait:
            os.close(read)
            return None
        with os.fdopen(read, "rb") as pipe:
            told = pipe.read(len(READY))
            if told == READY:
                return None
            told += pipe.read()
        os.waitpid(pid, 0)
        self.pids.pop(pid, None)
        return told.decode(errors="replace").strip() or f"worker {number} exited before it was ready"

    def _work(self, number: int, *, build: bool, ready: int, parent: int) -> int:
        """Run worker ``number`` (in the forked process); its exit status. A failure to start goes up the pipe."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        _end_with_parent(parent)
        say = self.progress if number == 0 else _quiet
        try:
            serve(self.settings, self.sock, build=build, progress=say, ready=ready, board=(self.board, number))
        except BaseException as exc:
            message = str(exc) or type(exc).__name__
            try:
                os.write(ready, message.encode())  # before ready: the supervisor raises it as the command's error
            except OSError:
                print(f"error: worker {number}: {message}", file=sys.stderr, flush=True)
            return 1
        return 0

    def _stop(self, _sig: int, _frame: object) -> None:
        """Stop: ask every worker to finish its requests and exit."""
        self.stopping = True
        for pid in self.pids:
            _signal(pid, signal.SIGTERM)

    def _shutdown(self, code: int) -> int:
        """Stop the workers still running and wait for them; ``code`` is the exit status."""
        self.stopping = True
        for pid in list(self.pids):
            _signal(pid, signal.SIGTERM)
        for pid in list(self.pids):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.sock.close()
        return code


def _end_with_parent(parent: int) -> None:
    """Have the kernel send SIGTERM to this worker when the supervisor dies, even by SIGKILL (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def _quiet(_message: str) -> None:
    """Progress of the workers after the first: the first one has said it all."""


def _signal(pid: int, sig: int) -> None:
    """Send a signal to a worker that may have exited already."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def serve_workers(settings: Settings, workers: int, *, build: bool, progress: Progress) -> int:
    """Serve with ``workers`` forked processes, each with its own compute threads (``QA_THREADS``, else the cores
    divided among them)."""
    host, port = settings.http.host, settings.http.port
    threads = settings.build.threads or max(1, cores() // workers)
    settings = settings.replace(threads=threads)
    try:
        sock = shared_socket(host, port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} with {workers} workers ({exc})") from None
    try:
        lifecycle.check_before_loading(settings, build=build)
    except QAError:
        sock.close()
        raise
    progress(f"starting {workers} workers with {threads} compute thread{'s' * (threads > 1)} each")
    return Supervisor(settings, sock, workers, progress).run(build=build)
