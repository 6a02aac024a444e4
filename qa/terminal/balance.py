"""Accept balancing for `qa serve` workers sharing one listening socket: least connections, as load balancers do.

Every worker accepts from the same socket, one connection per wake-up, and only while no other worker has fewer
connections open; each publishes its count in a board of shared memory made before the fork. Keep-alive clients so
end up spread evenly (SO_REUSEPORT hashes each connection to one worker's socket, and 16 of them split 10 / 6), and a
connection waiting in the shared queue is taken by whichever worker is serving, even while another is restarted.
A worker that is not the least loaded looks again every millisecond; if no worker takes a waiting connection for
``STALL`` seconds (the least loaded is stuck), it takes it itself.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from uvicorn.server import Protocols

log = logging.getLogger("uvicorn.error")
DEFER = 0.001  # seconds a worker with more connections than another waits before it looks again
STALL = 0.1  # seconds a connection may wait untaken before a worker that is not the least loaded takes it
FULL_PAUSE = 1.0  # seconds without accepting after accept() failed for want of descriptors or memory
LISTEN_POLL = 0.01  # seconds between looks at a socket the supervisor has not yet opened for connections


class Board:
    """Open connections per worker (-1: not accepting) and connections accepted, in memory the forked workers share."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._memory = mmap.mmap(-1, 16 * workers)  # anonymous and shared: the same pages in every forked worker
        self._slots = memoryview(self._memory).cast("q")  # [open per worker..., accepted per worker...]
        for number in range(workers):
            self.leave(number)

    def leave(self, number: int) -> None:
        """Worker ``number`` accepts no more (stopped, or dead and reaped): the others no longer defer to it."""
        self._slots[number] = -1

    def publish(self, number: int, open_connections: int) -> None:
        """Worker ``number`` has ``open_connections`` open (or being opened)."""
        self._slots[number] = open_connections

    def accepted(self, number: int) -> None:
        """Worker ``number`` accepted one more connection."""
        self._slots[self.workers + number] += 1

    def accepted_total(self) -> int:
        """Connections accepted by every worker so far (it moves while some worker is accepting)."""
        return sum(self._slots[self.workers :])

    def least_loaded(self, number: int) -> bool:
        """Whether no accepting worker has fewer connections open than worker ``number`` (ties: all of them)."""
        mine = self._slots[number]
        return all(not 0 <= self._slots[other] < mine for other in range(self.workers))

    def open_connections(self) -> list[int]:
        """Open connections per worker (-1: not accepting), for logs and tests."""
        return list(self._slots[: self.workers])


class Tally(set["Protocols"]):
    """A worker's open connections (uvicorn's protocols add and drop themselves) that keeps the board up to date."""

    def __init__(self, board: Board, number: int) -> None:
        super().__init__()
        self.board = board
        self.number = number
        self.pending = 0  # accepted, the protocol not yet made

    def publish(self) -> None:
        """Tell the board how many connections this worker has."""
        self.board.publish(self.number, len(self) + self.pending)

    def add(self, item: Protocols) -> None:
        """A connection made (or upgraded)."""
        super().add(item)
        self.pending = max(0, self.pending - 1)
        self.publish()

    def discard(self, item: object) -> None:
        """A connection lost (or upgraded)."""
        super().discard(item)
        self.publish()

    def remove(self, item: Protocols) -> None:
        """A connection lost (the websocket protocols remove rather than discard)."""
        super().remove(item)
        self.publish()


class Acceptor:
    """Accepts connections from the shared socket for one worker, while that worker is among the least loaded."""

    def __init__(self, sock: socket.socket, tally: Tally, factory: Callable[[], asyncio.Protocol]) -> None:
        self.sock = sock
        self.tally = tally
        self.factory = factory
        self.loop = asyncio.get_running_loop()
        self.waiting: asyncio.TimerHandle | None = None
        self.stopped = False
        self.connecting: set[asyncio.Task[Any]] = set()
        self.since = 0.0  # when this worker first deferred a connection nobody has taken since
        self.seen = -1  # the board's accepted total then

    def start(self) -> None:
        """Take part in the balancing now; accept once the supervisor has opened the socket (every worker ready)."""
        self.waiting = None
        if self.stopped:
            return
        self.tally.publish()  # the others defer to this worker from now on: it must be about to accept
        if not self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            self.waiting = self.loop.call_later(LISTEN_POLL, self.start)
            return
        self.loop.add_reader(self.sock.fileno(), self._readable)

    def stop(self) -> None:
        """Accept no more; the other workers stop deferring to this one."""
        self.stopped = True
        if self.waiting is not None:
            self.waiting.cancel()
        self.loop.remove_reader(self.sock.fileno())
        self.tally.board.leave(self.tally.number)

    def _pause(self, seconds: float) -> None:
        """Stop watching the socket for ``seconds``."""
        self.loop.remove_reader(self.sock.fileno())
        self.waiting = self.loop.call_later(seconds, self._resume)

    def _resume(self) -> None:
        """Watch the socket again."""
        self.waiting = None
        if not self.stopped:
            self.loop.add_reader(self.sock.fileno(), self._readable)

    def _stalled(self) -> bool:
        """Whether a connection has waited ``STALL`` seconds while no worker accepted anything."""
        total, now = self.tally.board.accepted_total(), time.monotonic()
        if total != self.seen:
            self.since, self.seen = now, total
            return False
        return now - self.since >= STALL

    def _readable(self) -> None:
        """A connection waits: take it if this worker is among the least loaded (or the one that is stays away)."""
        board, number = self.tally.board, self.tally.number
        if not board.least_loaded(number) and not self._stalled():
            self._pause(DEFER)
            return
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it, or the client gave up
        except OSError as exc:  # out of descriptors or memory: give the others a chance, as asyncio's server does
            log.error("accept failed (%s); pausing for %.0f s", exc, FULL_PAUSE)
            self._pause(FULL_PAUSE)
            return
        self.seen = -1
        self.tally.pending += 1
        self.tally.publish()
        board.accepted(number)
        task = self.loop.create_task(self._connect(conn))
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    async def _connect(self, conn: socket.socket) -> None:
        """Hand an accepted connection to uvicorn's protocol (the transport sets TCP_NODELAY, as for a server's)."""
        conn.setblocking(False)
        try:
            await self.loop.connect_accepted_socket(self.factory, conn)
        except BaseException:
            conn.close()
            self.tally.pending = max(0, self.tally.pending - 1)
            self.tally.publish()
            raise


class BalancedServer(uvicorn.Server):
    """uvicorn serving from a socket shared with other workers, accepting through an :class:`Acceptor`."""

    def __init__(
        self, config: uvicorn.Config, sock: socket.socket, board: Board, number: int, ready: Callable[[], None]
    ) -> None:
        super().__init__(config)
        self.sock = sock
        self.ready = ready
        self.board = board
        self.number = number
        self.acceptor: Acceptor | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start the app with no server of uvicorn's own, then accept for it."""
        await super().startup(sockets=[])
        config, tally = self.config, Tally(self.board, self.number)
        self.server_state.connections = tally

        def protocol() -> asyncio.Protocol:
            """A protocol as uvicorn's own servers make them."""
            made: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )
            return made

        self.acceptor = Acceptor(self.sock, tally, protocol)
        self.acceptor.start()
        self.ready()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting (the other workers take the new connections), then finish as uvicorn does."""
        if self.acceptor is not None:
            self.acceptor.stop()
        self.sock.close()  # this worker's descriptor: the socket stays open in the others
        await super().shutdown(sockets)
