"""Load generators: `wrk` when installed, else a small asyncio HTTP/1.1 client, same figures.

Both run in a separate process from the server and report, for one request
shape at a fixed number of keep-alive connections (closed loop): requests
completed, requests per second, latency p50/p90/p99/max, and errors (socket
errors, timeouts and any status outside 2xx/3xx).

`python -m bench.loadgen --url ... -c 8 -d 10` runs the asyncio client by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

WRK_TIMEOUT_SECONDS = 30
"""A request slower than this counts as an error (wrk's default of 2 s would call a queue
at 256 connections a failure before the server had a chance to answer)."""


@dataclass(frozen=True)
class Target:
    """One request shape, sent again and again."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    more_bodies: tuple[str, ...] = ()
    """Bodies taken in turn with `body` (e.g. logins of several users)."""

    @property
    def bodies(self) -> tuple[str, ...]:
        return (self.body, *self.more_bodies)


@dataclass
class LoadResult:
    tool: str
    connections: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    error_detail: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def choose_tool(requested: str) -> str:
    if requested == "auto":
        return "wrk" if wrk_available() else "python"
    if requested == "wrk" and not wrk_available():
        raise SystemExit("--loadgen wrk: wrk is not installed (apt-get install wrk)")
    return requested


def _lua_string(value: str) -> str:
    if not value.isascii():
        raise ValueError("wrk scripts here carry ASCII only")
    return json.dumps(value)  # ASCII JSON escapes (\" \\ \n) are valid Lua escapes


def wrk_script(target: Target, out: Path) -> str:
    headers = "\n".join(
        f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in target.headers.items()
    )
    return f"""
wrk.method = {_lua_string(target.method)}
wrk.path = {_lua_string(target.path)}
wrk.body = {_lua_string(target.body)}
{headers}
{_lua_bodies(target)}
done = function(summary, latency, requests)
  local e = summary.errors
  local f = io.open({_lua_string(str(out))}, "w")
  f:write(string.format(
    '{{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50":%f,"p90":%f,"p99":%f,"max":%f}}',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  f:close()
end
"""


def _lua_bodies(target: Target) -> str:
    """A `request` function taking the bodies in turn, when there is more than one."""
    if not target.more_bodies:
        return ""
    bodies = ", ".join(_lua_string(body) for body in target.bodies)
    return f"""bodies = {{{bodies}}}
turn = 0
request = function()
  turn = turn % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[turn])
end"""


DRAIN_SECONDS = 0.5
"""The load generator stops with requests in flight, which the server still finishes. A
login among them keeps its throttling attempt pending until then, and a run started at
once found the address's cap on attempts in flight taken: dozens of instant 429s, counted
in its req/s. Every run, in the foreground or the background, waits this long after its
load generator exits."""


class LoadRun:
    """A load generator process running in the background; `result()` waits for it."""

    def __init__(
        self, tool: str, base_url: str, target: Target, connections: int, duration: float
    ) -> None:
        self.tool = tool
        self.connections = connections
        self._dir = tempfile.TemporaryDirectory(prefix="bench-load-")
        self._out = Path(self._dir.name) / "result.json"
        if tool == "wrk":
            script = Path(self._dir.name) / "script.lua"
            script.write_text(wrk_script(target, self._out))
            command = [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(duration))}s",
                f"--timeout={WRK_TIMEOUT_SECONDS}s",
                "-s",
                str(script),
                base_url,
            ]
        else:
            spec = Path(self._dir.name) / "target.json"
            spec.write_text(json.dumps(asdict(target)))
            command = [
                sys.executable,
                "-m",
                "bench.loadgen",
                "--url",
                base_url,
                "--target",
                str(spec),
                "-c",
                str(connections),
                "-d",
                str(duration),
                "--out",
                str(self._out),
            ]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=_repo_root()
        )

    def result(self) -> LoadResult:
        """What the run measured, once the server has finished the requests it cut off."""
        _, stderr = self._process.communicate()
        time.sleep(DRAIN_SECONDS)
        try:
            if self._process.returncode != 0 or not self._out.exists():
                raise RuntimeError(
                    f"{self.tool} failed ({self._process.returncode}): {stderr.decode()[-2000:]}"
                )
            raw = json.loads(self._out.read_text())
        finally:
            self._dir.cleanup()
        if self.tool == "python":
            return LoadResult(**raw)
        duration = raw["duration_us"] / 1e6
        detail = {k: raw[k] for k in ("connect", "read", "write", "status", "timeout") if raw[k]}
        return LoadResult(
            tool="wrk",
            connections=self.connections,
            duration_s=round(duration, 3),
            requests=raw["requests"],
            rps=raw["requests"] / duration if duration else 0.0,
            p50_ms=raw["p50"] / 1000,
            p90_ms=raw["p90"] / 1000,
            p99_ms=raw["p99"] / 1000,
            max_ms=raw["max"] / 1000,
            errors=sum(detail.values()),
            error_detail=detail,
        )


def run_load(
    tool: str, base_url: str, target: Target, connections: int, duration: float
) -> LoadResult:
    return LoadRun(tool, base_url, target, connections, duration).result()


def _repo_root() -> str:
    return str(Path(__file__).resolve().parents[1])


# --- the asyncio client -------------------------------------------------------------------


class HttpError(Exception):
    """The connection broke or the answer was not HTTP/1.1 this client understands."""


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; reconnects after the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None  # noqa: S101
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        try:
            return await self._read_response(self._reader)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.close()
            raise HttpError(str(exc) or type(exc).__name__) from exc

    async def _read_response(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length: int | None = None
        close = False
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
            elif name == "transfer-encoding":
                raise ValueError("chunked responses are not supported")
        if length is None and status not in (204, 304) and status >= 200:
            raise ValueError("response without Content-Length")
        data = await reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def _drive(base_url: str, target: Target, connections: int, duration: float) -> LoadResult:
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    bodies = [body.encode() for body in target.bodies]
    turn = 0
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        connection = HttpConnection(host, port)
        nonlocal turn
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            body, turn = bodies[turn % len(bodies)], turn + 1
            try:
                status, _ = await connection.request(
                    target.method, target.path, target.headers, body
                )
            except HttpError:
                errors["read"] = errors.get("read", 0) + 1
                continue
            except OSError:
                errors["connect"] = errors.get("connect", 0) + 1
                await asyncio.sleep(0.01)
                continue
            latencies.append(time.perf_counter() - started)
            if status >= 400:
                errors["status"] = errors.get("status", 0) + 1
        await connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return LoadResult(
        tool="python",
        connections=connections,
        duration_s=round(elapsed, 3),
        requests=len(ordered),
        rps=len(ordered) / elapsed,
        p50_ms=percentile(ordered, 50) * 1000,
        p90_ms=percentile(ordered, 90) * 1000,
        p99_ms=percentile(ordered, 99) * 1000,
        max_ms=(ordered[-1] if ordered else 0.0) * 1000,
        errors=sum(errors.values()),
        error_detail=errors,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="asyncio HTTP/1.1 load generator (wrk stand-in)")
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--target", help="JSON file with method, path, headers, body")
    parser.add_argument("--path", default="/healthz", help="path when no --target is given")
    parser.add_argument("-c", "--connections", type=int, default=8)
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--out", help="write the JSON result here (default: stdout)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.target:
        target = Target(**json.loads(Path(args.target).read_text()))
    else:
        target = Target("GET", args.path)
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] ships it
        run = asyncio.run
    result = run(_drive(args.url, target, args.connections, args.duration))
    text = json.dumps(result.as_dict())
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text + "\n")
    sys.stdout.flush()
    os._exit(0)  # do not wait for sockets the server keeps open


if __name__ == "__main__":
    main()
