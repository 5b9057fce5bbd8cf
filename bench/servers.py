"""The processes under test: `notes-api serve` and the reference app, each its own uvicorn."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTES_API = str(Path(sys.executable).with_name("notes-api"))
JWT_SECRET = "bench-secret-key-not-for-production-0123456789abcdef"  # noqa: S105


@dataclass
class Server:
    name: str
    base_url: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User plus system CPU time used so far by the server and its children (workers)."""
        ticks = os.sysconf("SC_CLK_TCK")
        return sum(_cpu_ticks(pid) for pid in _process_tree(self.pid)) / ticks

    def rss_mib(self) -> float:
        """Resident memory of the server and its children (workers), in MiB."""
        return sum(_rss_kib(pid) for pid in _process_tree(self.pid)) / 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": JWT_SECRET,
        "APP_ENV": "production",
        # Tokens outlive the whole run; their lifetime costs nothing per request.
        "ACCESS_TOKEN_EXPIRE_MINUTES": "180",
        # uvicorn's access log line per request is left out: it measures the terminal.
        "LOG_LEVEL": "WARNING",
    }


def _wait_ready(server: Server, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}")
        try:
            with urllib.request.urlopen(server.base_url + path, timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{server.name} at {server.base_url} did not become ready")


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@contextmanager
def notes_api(
    database_url: str,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    wrapper: Sequence[str] = (),
    ready_timeout: float = 60,
) -> Iterator[Server]:
    """`wrapper` runs the server under another program (valgrind, for bench.instructions)."""
    port = free_port()
    command = [*wrapper, NOTES_API, "serve", "--port", str(port), "--workers", str(workers)]
    env = server_env(database_url) | (extra_env or {})
    process = subprocess.Popen(command, env=env, cwd=REPO_ROOT)
    server = Server("notes-api", f"http://127.0.0.1:{port}", process)
    try:
        _wait_ready(server, "/readyz", ready_timeout)
        yield server
    finally:
        _stop(server)


@contextmanager
def reference(
    database_url: str, wrapper: Sequence[str] = (), ready_timeout: float = 60
) -> Iterator[Server]:
    port = free_port()
    command = [
        *wrapper,
        sys.executable,
        "-m",
        "uvicorn",
        "bench.reference:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    env = server_env(database_url) | {"BENCH_REFERENCE_DSN": database_url}
    process = subprocess.Popen(command, env=env, cwd=REPO_ROOT)
    server = Server("reference", f"http://127.0.0.1:{port}", process)
    try:
        _wait_ready(server, "/healthz", ready_timeout)
        yield server
    finally:
        _stop(server)


def process_stats() -> Iterator[tuple[int, str]]:
    """Every process's pid and the text of its /proc/<pid>/stat (those that exit meanwhile
    are skipped)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            yield int(entry.name), (entry / "stat").read_text()
        except OSError:
            continue


def stat_ticks(stat: str) -> int:
    """User plus system CPU clock ticks, from the text of a /proc/<pid>/stat file."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def _process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, stat in process_stats():
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(pid)
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    return tree


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_ticks(pid: int) -> int:
    try:
        return stat_ticks(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return 0
