"""`notes-api serve` bounds each request's head: its size (431 past 32 KiB, before the rest
is parsed) and its time (a connection that never finishes its headers is closed), while
other clients keep being served; and no banner names the server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import httpx2
import pytest
import uvicorn
from fastapi import FastAPI

from notes_api import server
from tests.servers import free_port, running_server

HEAD_TIMEOUT_FOR_TESTS = 0.5


@pytest.fixture
def bounded_server(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The application behind uvicorn with `notes-api serve`'s limits, in this process (so
    the head timeout can be short); yields its port."""
    monkeypatch.setattr(server, "HEADER_TIMEOUT_SECONDS", HEAD_TIMEOUT_FOR_TESTS)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on", **server.uvicorn_limits()
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(instance.serve()), daemon=True)
    thread.start()
    while not instance.started:
        thread.join(0.05)
        assert thread.is_alive(), "the server did not start"
    yield port
    instance.should_exit = True
    thread.join(30)


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send `request`, then read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        # The server may close before reading everything: it has answered already.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(request)
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := connection.recv(65536):
                received += chunk
        return received


def test_a_header_over_32_kib_is_431_before_the_rest_is_read(bounded_server: int) -> None:
    huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1024 * 1024) + b"\r\n\r\n"
    answer = raw_exchange(bounded_server, huge)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert answer.endswith(b'{"detail":"The request headers are larger than 32 KiB."}')
    assert httpx2.get(f"http://127.0.0.1:{bounded_server}/healthz").status_code == 200


def test_headers_just_under_the_limit_are_served(bounded_server: int) -> None:
    response = httpx2.get(
        f"http://127.0.0.1:{bounded_server}/healthz", headers={"X-Padding": "p" * 30_000}
    )
    assert response.status_code == 200


def test_a_large_body_is_not_counted_as_headers(bounded_server: int) -> None:
    response = httpx2.post(
        f"http://127.0.0.1:{bounded_server}/token",
        content=b"x" * 500_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400  # read to the end and answered, not a 431


def test_a_connection_that_never_finishes_its_headers_is_closed(bounded_server: int) -> None:
    """A slow-headers client (slowloris) loses its connection; before, it kept it forever."""
    answer = raw_exchange(bounded_server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert answer == b""  # closed by the server, with nothing to answer


def test_a_second_request_on_a_kept_alive_connection_has_the_same_head_timeout(
    bounded_server: int,
) -> None:
    first = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = raw_exchange(bounded_server, first + b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 1


def test_a_kept_alive_connection_whose_next_head_stalls_is_closed(bounded_server: int) -> None:
    """The next request's head comes in a read of its own, after the first answer, and stops
    short: its clock starts with its first byte. (uvicorn's keep-alive timeout stopped when
    that byte came, so only the head timeout can close it.)"""
    with socket.create_connection(("127.0.0.1", bounded_server), timeout=10) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b'{"status":"ok"}'):
            chunk = connection.recv(65536)
            assert chunk, f"closed before the first answer ended: {answer!r}"
            answer += chunk
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert connection.recv(65536) == b""  # closed by the server, well within 10 s


def test_serve_sends_no_server_banner(database_url: str) -> None:
    with running_server({"DATABASE_URL": database_url}) as base_url:
        response = httpx2.get(f"{base_url}/healthz")
    assert response.status_code == 200
    assert "server" not in response.headers
