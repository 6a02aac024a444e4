"""A scripted OpenAI chat-completions server on 127.0.0.1 for tests: real HTTP, real SSE streaming."""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

MAX_DELAY = 5.0  # no scripted reply may hold a test longer than this


@dataclass(frozen=True)
class Reply:
    """One scripted answer to one request."""

    pieces: tuple[str, ...] = ()
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    error: str = ""
    break_after: int | None = None  # stream this many pieces, then drop the connection
    delay: float = 0.0  # seconds to wait before answering
    pause: float = 0.0  # seconds to wait between streamed pieces

    @classmethod
    def text(cls, *pieces: str, delay: float = 0.0) -> Reply:
        """A normal answer, streamed in these pieces (or sent whole when the request does not stream)."""
        return cls(pieces=pieces, delay=delay)

    @classmethod
    def slow(cls, *pieces: str, pause: float) -> Reply:
        """A normal answer streamed piece by piece, ``pause`` seconds apart (a model writing slowly)."""
        return cls(pieces=pieces, pause=pause)

    @classmethod
    def broken(cls, *pieces: str) -> Reply:
        """Stream these pieces, then close the connection abruptly (no finish_reason, no [DONE])."""
        return cls(pieces=pieces, break_after=len(pieces))

    @classmethod
    def failure(cls, status: int, message: str, *, retry_after: str | None = None) -> Reply:
        """An HTTP error with an OpenAI-shaped error body, and ``Retry-After`` when given."""
        headers = (("Retry-After", retry_after),) if retry_after is not None else ()
        return cls(status=status, error=message, headers=headers)


@dataclass(frozen=True)
class Received:
    """A request the stub received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class OpenAIStub:
    """Threaded HTTP server on an ephemeral loopback port answering ``/v1/chat/completions`` from a script."""

    served_model: str = "stub-model"
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        """The ``/v1`` URL to give the client."""
        assert self._server is not None, "the stub is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, *replies: Reply) -> None:
        """Queue replies, answered in order, one per request."""
        with self._lock:
            self.replies.extend(replies)

    def next_reply(self, received: Received) -> Reply | None:
        """Record a request and take the next scripted reply (None when the script is exhausted)."""
        with self._lock:
            self.requests.append(received)
            return self.replies.popleft() if self.replies else None

    def start(self) -> OpenAIStub:
        """Listen on 127.0.0.1 (port chosen by the OS) in a daemon thread."""
        stub = self

        class Handler(_Handler):
            owner = stub

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    """Threaded server that stays quiet when a client hangs up (timeouts and aborted streams do that)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore connection resets; print anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Speaks just enough of the chat-completions protocol: JSON, or SSE chunks ending in ``data: [DONE]``."""

    owner: OpenAIStub
    protocol_version = "HTTP/1.1"
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": self.owner.served_model, "object": "model"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        body = json.loads(raw)
        received = Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        reply = self.owner.next_reply(received)
        if reply is None:
            self._json(400, {"error": {"message": "the stub has no scripted reply left", "type": "stub"}})
            return
        time.sleep(min(reply.delay, MAX_DELAY))
        if reply.error:
            payload = {"error": {"message": reply.error, "type": "stub_error", "code": reply.status}}
            self._json(reply.status, payload, reply.headers)
        elif body.get("stream"):
            self._stream(reply, str(body.get("model", "")))
        else:
            self._json(200, _completion("".join(reply.pieces), str(body.get("model", ""))))

    def _json(self, status: int, payload: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, reply: Reply, model: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        ident, created = f"chatcmpl-stub-{time.monotonic_ns()}", int(time.time())
        self._event(_chunk(ident, created, model, {"role": "assistant", "content": ""}, None))
        for i, piece in enumerate(reply.pieces):
            if reply.break_after is not None and i >= reply.break_after:
                break
            if i:
                time.sleep(min(reply.pause, MAX_DELAY))
            self._event(_chunk(ident, created, model, {"content": piece}, None))
        if reply.break_after is not None:
            self._abort()
            return
        self._event(_chunk(ident, created, model, {}, "stop"))
        self._send_chunk(b"data: [DONE]\n\n")
        self._send_chunk(b"")

    def _event(self, payload: dict[str, Any]) -> None:
        self._send_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _send_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        """Reset the connection mid-body, as a crashed server would."""
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


def _chunk(ident: str, created: int, model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    """A ``chat.completion.chunk`` object as the real API sends it."""
    return {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _completion(text: str, model: str) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` object."""
    return {
        "id": f"chatcmpl-stub-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
