"""`notes-api serve` bounds each request's head: its size (431 past 32 KiB, before the rest
is parsed) and its time (a connection that never finishes its headers is closed), while
other clients keep being served; what it answers without the application has the
application's form; and no banner names the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
import uvicorn
import uvloop
from fastapi import FastAPI, Request, Response

from notes_api import server
from notes_api.security_headers import DEFAULT_HEADERS
from tests.servers import free_port, running_server

HEAD_TIMEOUT_FOR_TESTS = 0.5
BODY_TIMEOUT_FOR_TESTS = 1.0


@pytest.fixture
def bounded_server(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The application behind uvicorn with `notes-api serve`'s limits, in this process (so
    the head timeout can be short); yields its port."""
    monkeypatch.setattr(server, "HEADER_TIMEOUT_SECONDS", HEAD_TIMEOUT_FOR_TESTS)
    monkeypatch.setattr(server, "BODY_TIMEOUT_SECONDS", BODY_TIMEOUT_FOR_TESTS)
    with serving(app) as port:
        yield port


@contextlib.contextmanager
def serving(app: FastAPI, **settings: Any) -> Iterator[int]:
    """`app` served by uvicorn in this process with `notes-api serve`'s limits as they are
    set now, and any other uvicorn `settings`; yields its port."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
        **server.uvicorn_limits(),
        **settings,
    )
    instance = uvicorn.Server(config)
    # uvloop, as `notes-api serve` runs (uvicorn's loop="auto" takes it when installed).
    thread = threading.Thread(target=lambda: uvloop.run(instance.serve()), daemon=True)
    thread.start()
    while not instance.started:
        thread.join(0.05)
        assert thread.is_alive(), "the server did not start"
    yield port
    instance.should_exit = True
    thread.join(30)


def raw_exchange(port: int, *request: bytes, pause: float = 0.0) -> bytes:
    """Send the parts of `request`, `pause` seconds apart (each in a read of its own), then
    read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        # The server may close before reading everything: it has answered already.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for number, part in enumerate(request):
                time.sleep(pause if number else 0.0)
                connection.sendall(part)
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := connection.recv(65536):
                received += chunk
        return received


def test_a_header_over_32_kib_is_431_before_the_rest_is_read(bounded_server: int) -> None:
    huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1024 * 1024) + b"\r\n\r\n"
    status, _, detail = protocol_answer(raw_exchange(bounded_server, huge))
    assert status == 431
    assert detail == "The request headers are larger than 32 KiB."
    assert httpx2.get(f"http://127.0.0.1:{bounded_server}/healthz").status_code == 200


def test_a_head_over_32_kib_that_arrives_in_one_read_is_431(bounded_server: int) -> None:
    """40 KB fits in one read of the socket, so the head is parsed whole before anything
    counts it; the parsed head is measured too (it was served)."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    status, _, detail = protocol_answer(raw_exchange(bounded_server, head))
    assert status == 431
    assert detail == "The request headers are larger than 32 KiB."


def test_many_headers_over_32_kib_together_are_431(bounded_server: int) -> None:
    headers = b"".join(b"X-Padding-%d: %s\r\n" % (i, b"p" * 100) for i in range(400))
    status, _, _ = protocol_answer(
        raw_exchange(bounded_server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    )
    assert status == 431


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n",
    ],
    ids=["not HTTP", "header without a colon", "Content-Length not a number"],
)
def test_a_request_that_is_not_http_gets_a_json_400_with_the_security_headers(
    bounded_server: int, request_bytes: bytes
) -> None:
    status, _, detail = protocol_answer(raw_exchange(bounded_server, request_bytes))
    assert status == 400
    assert detail == "Invalid HTTP request received."


def test_past_the_concurrency_limit_a_request_gets_a_json_503_with_retry_after(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "LIMIT_CONCURRENCY", 2)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with serving(app) as port:
        assert raw_exchange(port, request).startswith(b"HTTP/1.1 200 ")  # alone: served
        with socket.create_connection(("127.0.0.1", port), timeout=10) as held:
            held.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert held.recv(65536).startswith(b"HTTP/1.1 200 ")  # kept alive: still open
            status, headers, detail = protocol_answer(raw_exchange(port, request))
    assert status == 503
    assert headers["retry-after"] == "1"
    assert "retry" in detail


def protocol_answer(answer: bytes) -> tuple[int, dict[str, str], str]:
    """The status, headers and `detail` of an answer the server gave without the
    application, having checked that it has the application's form all the same: a JSON
    error, the security headers, a request id, and the connection closed."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        assert name.lower() not in headers, f"{name} twice"
        headers[name.lower()] = value.strip()
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    assert headers["connection"] == "close"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    for name, value in DEFAULT_HEADERS.items():
        assert headers[name.lower()] == value
    detail = json.loads(body)["detail"]
    assert isinstance(detail, str)
    return int(status_line.split(" ")[1]), headers, detail


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


LOGIN_BODY = b"grant_type=password&username=nobody&password=wrong"
LOGIN_HEAD = (
    b"POST /token HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: %d\r\n\r\n" % len(LOGIN_BODY)
)


def test_a_body_that_does_not_arrive_in_time_is_408(bounded_server: int) -> None:
    """A slow-body client (slow POST) loses its connection, with a 408; before, a body that
    never came held the connection and its request forever, and 500 of them made the
    server answer 503 to everyone."""
    with socket.create_connection(("127.0.0.1", bounded_server), timeout=10) as connection:
        connection.sendall(LOGIN_HEAD + LOGIN_BODY[:10])
        began = time.monotonic()
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        waited = time.monotonic() - began
    status, _, detail = protocol_answer(answer)
    assert status == 408
    assert "did not arrive" in detail
    assert BODY_TIMEOUT_FOR_TESTS - 0.1 < waited < BODY_TIMEOUT_FOR_TESTS + 5


def test_a_body_in_several_reads_within_the_time_is_served_and_the_connection_kept(
    bounded_server: int,
) -> None:
    with socket.create_connection(("127.0.0.1", bounded_server), timeout=10) as connection:
        connection.sendall(LOGIN_HEAD + LOGIN_BODY[:10])
        time.sleep(BODY_TIMEOUT_FOR_TESTS / 4)
        connection.sendall(LOGIN_BODY[10:])
        assert b"invalid_grant" in read_answer(connection)  # the login was read and answered
        time.sleep(BODY_TIMEOUT_FOR_TESTS * 1.5)  # past the body's time: its timer is gone
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(connection).startswith(b"HTTP/1.1 200 ")


def read_answer(connection: socket.socket) -> bytes:
    """One answer from a kept-alive connection: its head, then `Content-Length` bytes."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(65536)
        assert chunk, f"closed before the head ended: {answer!r}"
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    declared = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    assert declared, f"no Content-Length: {head!r}"
    length = int(declared.group(1))
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, f"closed before the body ended: {answer!r}"
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_body_left_unfinished_after_an_early_answer_still_ends_the_connection(
    bounded_server: int,
) -> None:
    """A 404 answered before the body came: the body's clock still runs, though the answer
    is complete, and a byte now and then no longer keeps the connection (it did: each read
    cancels uvicorn's keep-alive timer, which it re-arms only after an answer)."""
    with socket.create_connection(("127.0.0.1", bounded_server), timeout=10) as connection:
        connection.sendall(b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabcde")
        assert read_answer(connection).startswith(b"HTTP/1.1 404 ")
        connection.sendall(b"f")
        began = time.monotonic()
        assert connection.recv(65536) == b""  # closed by the server
    assert time.monotonic() - began < BODY_TIMEOUT_FOR_TESTS + 5


def slow_application() -> FastAPI:
    """Routes that take their time: to tell the body's clock from the application's."""
    application = FastAPI()

    @application.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(BODY_TIMEOUT_FOR_TESTS * 1.5)
        return {"status": "slow"}

    @application.post("/late-reader")
    async def late_reader(request: Request) -> dict[str, int]:
        await asyncio.sleep(BODY_TIMEOUT_FOR_TESTS * 1.5)  # before it asks for the body
        return {"length": len(await request.body())}

    return application


@pytest.fixture
def slow_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """`slow_application` with the body's clock as short as `bounded_server`'s."""
    monkeypatch.setattr(server, "BODY_TIMEOUT_SECONDS", BODY_TIMEOUT_FOR_TESTS)
    with serving(slow_application()) as port:
        yield port


def test_a_pipelined_requests_body_clock_starts_when_its_turn_comes(slow_server: int) -> None:
    """The body of a request queued behind a slow one cannot come while reading is paused:
    its clock starts with the slow one's answer, which is not replaced by a 408."""
    with socket.create_connection(("127.0.0.1", slow_server), timeout=10) as connection:
        connection.sendall(
            b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /late-reader HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab"
        )
        assert read_answer(connection).endswith(b'{"status":"slow"}')
        connection.sendall(b"cdefghij")  # within the time its own clock gives
        assert read_answer(connection).endswith(b'{"length":10}')


def test_the_body_clock_waits_for_the_100_continue(slow_server: int) -> None:
    """A client that asked `Expect: 100-continue` sends its body only once the server asks
    for it, which the application does when it reads it: no 408 before that."""
    with socket.create_connection(("127.0.0.1", slow_server), timeout=10) as connection:
        connection.sendall(
            b"POST /late-reader HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert connection.recv(65536).startswith(b"HTTP/1.1 100 ")
        connection.sendall(b"abcd")
        assert read_answer(connection).endswith(b'{"length":4}')


def test_a_stray_line_end_between_requests_does_not_keep_the_connection_open(
    app: FastAPI,
) -> None:
    """An empty line between requests starts no request, and cancelled uvicorn's keep-alive
    timer without arming the head's: the connection then stayed open forever."""
    with (
        serving(app, timeout_keep_alive=1) as port,
        socket.create_connection(("127.0.0.1", port), timeout=10) as connection,
    ):
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(connection).startswith(b"HTTP/1.1 200 ")
        connection.sendall(b"\r\n")
        assert connection.recv(65536) == b""  # closed by the keep-alive timeout


def test_a_body_and_the_next_head_in_one_read_are_not_counted_as_headers(
    bounded_server: int,
) -> None:
    """A pipelined request's head that starts in the read ending a 60 KB body: only the head
    counts against the 32 KiB (the whole read was counted, and answered 431)."""
    body = b"grant_type=password&username=nobody&password=" + b"p" * 60_000
    first = (
        b"POST /token HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.create_connection(("127.0.0.1", bounded_server), timeout=10) as connection:
        connection.sendall(first + b"GET /healthz HTTP/1.1\r\n")
        assert b"invalid_grant" in read_answer(connection)
        connection.sendall(b"Host: x\r\n\r\n")
        assert read_answer(connection).startswith(b"HTTP/1.1 200 ")


def test_a_finished_bodys_clock_does_not_run_into_the_next_request(bounded_server: int) -> None:
    """A body completed after an early answer (a 404) left its request marked as wanting
    more body, and its clock, armed again, answered the next request's slow body with a 408
    before that body's own time."""
    with socket.create_connection(("127.0.0.1", bounded_server), timeout=10) as connection:
        connection.sendall(b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabcde")
        assert read_answer(connection).startswith(b"HTTP/1.1 404 ")
        connection.sendall(b"fghij")  # the first body ends, after its answer
        time.sleep(BODY_TIMEOUT_FOR_TESTS / 2)
        connection.sendall(LOGIN_HEAD + LOGIN_BODY[:10])
        time.sleep(BODY_TIMEOUT_FOR_TESTS * 0.7)  # past the first body's end + timeout
        connection.sendall(LOGIN_BODY[10:])
        assert b"invalid_grant" in read_answer(connection)


def test_line_ends_dripped_between_requests_do_not_keep_the_connection_open(
    app: FastAPI,
) -> None:
    """Each read cancels uvicorn's keep-alive timer: re-armed in full on every stray line
    end, two bytes a few seconds apart kept a connection forever. Its deadline stays the
    first."""
    with (
        serving(app, timeout_keep_alive=1) as port,
        socket.create_connection(("127.0.0.1", port), timeout=10) as connection,
    ):
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(connection).startswith(b"HTTP/1.1 200 ")
        began = time.monotonic()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while time.monotonic() - began < 5:
                connection.sendall(b"\r\n")
                time.sleep(0.3)
        assert time.monotonic() - began < 3  # the writes failed: closed at about 1 s
        assert connection.recv(65536) == b""


def test_an_upgrade_request_body_is_not_served_as_another_request(bounded_server: int) -> None:
    """The parser stops framing a message at an `Upgrade` head (this server makes no
    upgrade), so its body was served as the next request: a way to smuggle one past a proxy
    that forwards upgrades. The connection now ends with the first answer."""
    inner = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    head = (
        b"POST /token HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % len(inner)
    )
    # The body in a read of its own, after the head was parsed.
    answer = raw_exchange(bounded_server, head, inner, pause=0.3)
    assert answer.count(b"HTTP/1.1 ") == 1
    assert b'"status":"ok"' not in answer


def answering_with(large: bytes) -> FastAPI:
    """An application whose `GET /large` answers `large`, handed to uvicorn in one piece as
    Starlette hands every answer that is not streamed."""
    application = FastAPI()

    @application.get("/large")
    async def large_answer() -> Response:
        return Response(large, media_type="application/octet-stream")

    return application


def test_a_client_reading_a_large_answer_steadily_keeps_its_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The transport resumes writing only when its buffer is nearly empty, which for an
    answer handed over in one piece is at its end: a stall timer disarmed only then dropped
    every client whose answer took longer than the timer. It now looks for progress. (The
    kernel's buffers, a few megabytes, drain before the transport's does: a client must
    take them within the timer, here 2 s, in production 60 s.)"""
    monkeypatch.setattr(server, "WRITE_STALL_SECONDS", 2.0)
    large = b"x" * (48 * 1024 * 1024)
    with serving(answering_with(large)) as port, socket.socket() as connection:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        connection.settimeout(10)
        connection.connect(("127.0.0.1", port))
        connection.sendall(b"GET /large HTTP/1.1\r\nHost: x\r\n\r\n")
        began = time.monotonic()
        received = 0
        with contextlib.suppress(ConnectionResetError):
            while received < len(large) and (chunk := connection.recv(65536)):
                received += len(chunk)
                time.sleep(0.008)  # about 8 MB/s at most: steady, far slower than loopback
    assert received >= len(large)
    assert time.monotonic() - began > 2.0  # longer than the timer: it was re-armed


def test_an_answer_the_client_stops_reading_loses_its_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client that asks for a large answer and reads none of it held its connection (a
    concurrency slot) and the answer in memory forever; past `WRITE_STALL_SECONDS` without
    progress the connection is dropped (a list of 100 large notes can be 39 MB)."""
    monkeypatch.setattr(server, "WRITE_STALL_SECONDS", 1.0)
    large = b"x" * (64 * 1024 * 1024)  # well past the socket buffers on both sides
    with serving(answering_with(large)) as port, socket.socket() as connection:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connection.settimeout(10)
        connection.connect(("127.0.0.1", port))
        connection.sendall(b"GET /large HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(3)  # reads nothing: the server's buffer fills, and its timer runs out
        received = 0
        with contextlib.suppress(ConnectionResetError):
            while chunk := connection.recv(1024 * 1024):
                received += len(chunk)
    assert 0 < received < len(large)  # what the buffers held, then the end


def test_serve_sends_no_server_banner(database_url: str) -> None:
    with running_server({"DATABASE_URL": database_url}) as base_url:
        response = httpx2.get(f"{base_url}/healthz")
    assert response.status_code == 200
    assert "server" not in response.headers
