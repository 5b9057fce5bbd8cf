"""Real server processes for tests that need more than the in-process TestClient."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

NOTES_API = str(Path(sys.executable).with_name("notes-api"))


# Below Linux's ephemeral range (32768-60999), from which every outgoing connection and every
# bind to port 0 takes its port, so nothing else picks a port from here between free_port()
# and the server's own bind; and below 30000, where Kubernetes' NodePorts start.
PORTS_FOR_SERVERS = range(10_000, 30_000)


def free_port() -> int:
    """A loopback port nothing listens on, for a server a test is about to start.

    Under pytest-xdist each worker draws from its own share of PORTS_FOR_SERVERS, so two
    workers starting servers at the same moment never get the same port.
    """
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    # A worker that replaces a crashed one is numbered past the count (gw2 of 2).
    index = int(worker) % workers if worker.isdigit() else 0
    share = len(PORTS_FOR_SERVERS) // workers
    first = PORTS_FOR_SERVERS.start + index * share
    for port in random.sample(range(first, first + share), k=share):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken, or still in TIME_WAIT
            return port
    raise RuntimeError(f"no free port in {first}-{first + share - 1}")


def wait_until_ready(base_url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    wait_for_health(base_url, process, timeout, path="/readyz")


def wait_for_health(
    base_url: str, process: subprocess.Popen[bytes], timeout: float = 30, path: str = "/healthz"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx2.get(f"{base_url}{path}", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{base_url} did not become ready")


@contextmanager
def running_server(env: dict[str, str], *args: str, port: int | None = None) -> Iterator[str]:
    """`notes-api serve` on `port` (default: a free one) with `env` added; yields its base URL."""
    port = port or free_port()
    process = subprocess.Popen(
        [NOTES_API, "serve", "--port", str(port), *args],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base_url, process)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)
