"""A lean HTTP load generator for bench/throughput.py: wrk with a Lua script, else an asyncio keep-alive client.

Both send a fixed number of requests from a cycle of pre-encoded ones over ``concurrency`` keep-alive connections
to 127.0.0.1, and report the completed count, the wall time, p50 and p99 latency, and responses other than 200.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Request:
    """One HTTP request: method, path (with its query) and an optional JSON body."""

    method: str
    path: str
    body: bytes = b""

    def encode(self, port: int) -> bytes:
        """The request as sent on a keep-alive connection."""
        head = f"{self.method} {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        if self.body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(self.body)}\r\n"
        return head.encode() + b"\r\n" + self.body


@dataclass(frozen=True)
class Load:
    """What one run measured."""

    completed: int
    seconds: float
    p50_ms: float
    p99_ms: float
    bad: int  # responses other than 200, plus socket errors and timeouts

    @property
    def rate(self) -> float:
        """Completed requests per second."""
        return self.completed / self.seconds if self.seconds > 0 else 0.0


def run(port: int, requests: list[Request], total: int, concurrency: int, *, client: str, timeout: float) -> Load:
    """Send ``total`` requests (cycling through ``requests``) at ``concurrency``, with wrk or the asyncio client."""
    if client == "wrk":
        return _wrk(port, requests, total, concurrency, timeout)
    return asyncio.run(_asyncio(port, requests, total, concurrency, timeout))


def pick_client(wanted: str) -> str:
    """``wrk`` when asked for (or ``auto``) and installed, else ``asyncio``."""
    if wanted in ("auto", "wrk") and shutil.which("wrk"):
        return "wrk"
    if wanted == "wrk":
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk); or use --client asyncio")
    return "asyncio"


def _lua_string(data: bytes) -> str:
    """A Lua string literal holding ``data`` byte for byte (decimal escapes for all but letters and digits)."""
    return '"' + "".join(chr(b) if chr(b).isalnum() else f"\\{b:03d}" for b in data) + '"'


LUA = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } qa_timespec;
int clock_gettime(int clock, qa_timespec *ts);
]]
local ts = ffi.new("qa_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local specs = {%(specs)s}
local reqs = {}
local total = %(total)d
served, bad, first_us, last_us = 0, 0, 0, 0  -- globals: done() reads them with thread:get
local next_req = 0
local threads = {}

function setup(thread) table.insert(threads, thread) end

function init(args)
  for k, s in ipairs(specs) do
    local headers = {}
    if s[3] ~= "" then headers["Content-Type"] = "application/json" end
    reqs[k] = wrk.format(s[1], s[2], headers, s[3] ~= "" and s[3] or nil)
  end
end

function request()
  if next_req == 0 then first_us = now_us() end
  next_req = next_req + 1
  return reqs[(next_req - 1) %% #reqs + 1]
end

function response(status, headers, body)
  served = served + 1
  if status ~= 200 then bad = bad + 1 end
  if served == total then
    last_us = now_us()
    wrk.thread:stop()
    io.stderr:write("wrk-done\\n")  -- the caller then wakes wrk's main thread, which sleeps for the whole -d
    io.stderr:flush()
  end
end

function done(summary, latency, requests)
  local t = threads[1]
  local e = summary.errors
  io.write(string.format('{"completed": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "bad": %%d}\\n',
    t:get("served"), t:get("last_us") - t:get("first_us"), latency:percentile(50.0), latency:percentile(99.0),
    t:get("bad") + e.connect + e.read + e.write + e.timeout))
end
"""


def _wrk(port: int, requests: list[Request], total: int, concurrency: int, timeout: float) -> Load:
    """One wrk thread (the machine is small) stopping itself after ``total`` responses, timed by its own clock."""
    specs = ",".join(
        "{" + ",".join(_lua_string(x) for x in (r.method.encode(), r.path.encode(), r.body)) + "}" for r in requests
    )
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "load.lua"
        script.write_text(LUA % {"specs": specs, "total": total})
        bound = max(60, int(total / 5))  # seconds: wrk stops itself well before this on any sane server
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{bound}s", f"--timeout={int(timeout)}s", "-s", str(script)]
        proc = subprocess.Popen(
            [*command, f"http://127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stderr is not None
        errors = []
        for line in proc.stderr:  # ends when wrk exits or says it is done
            if line.startswith("wrk-done"):
                break
            errors.append(line)
        for _ in range(100):  # SIGINT ends wrk's sleep; the first may land on its worker thread, so repeat
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=bound + 30)
    summary = next((x for x in out.splitlines() if x.startswith('{"completed"')), None)
    if summary is None:
        raise RuntimeError(f"wrk printed no summary (exit {proc.returncode}): {out[-500:]}{''.join(errors)}{err}")
    got = json.loads(summary)
    return Load(got["completed"], got["duration_us"] / 1e6, got["p50_us"] / 1e3, got["p99_us"] / 1e3, got["bad"])


async def _asyncio(port: int, requests: list[Request], total: int, concurrency: int, timeout: float) -> Load:
    """Keep-alive connections on raw sockets; each sends its next request when the last response is read."""
    wire = [r.encode(port) for r in requests]
    latencies: list[float] = []
    bad = 0
    issued = 0

    async def connection() -> None:
        nonlocal bad, issued
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while issued < total:
                data = wire[issued % len(wire)]
                issued += 1
                sent = time.perf_counter()
                writer.write(data)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
                length = next(
                    int(x.split(b":", 1)[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length:")
                )
                await asyncio.wait_for(reader.readexactly(length), timeout)
                latencies.append(time.perf_counter() - sent)
                if not head.startswith(b"HTTP/1.1 200"):
                    bad += 1
        except (OSError, TimeoutError, asyncio.IncompleteReadError, StopIteration):
            bad += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return Load(len(latencies), seconds, statistics.median(ordered) * 1e3, p99 * 1e3, bad)
