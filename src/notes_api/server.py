"""How `notes-api serve` (and so the image) runs uvicorn: bounded headers, in size and time.

uvicorn's httptools protocol has no limit of its own on a request's headers: a 100 MB
header is parsed on the event loop (seconds during which nothing else is served), and a
connection that never finishes its headers stays open forever (a few hundred of them use
up the process's file descriptors). This protocol counts the bytes of a request's head and
answers 431 past MAX_HEADER_BYTES, and closes a connection whose head has not arrived
within HEADER_TIMEOUT_SECONDS of its first byte (or of the connection). A reverse proxy in
front (compose has one) enforces the same; this holds without one too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

GRACEFUL_SHUTDOWN_SECONDS = 30
"""Keep below the orchestrator's kill delay (compose `stop_grace_period: 40s`)."""
MAX_HEADER_BYTES = 32 * 1024
"""The request line and every header together: nginx's default buffers hold as much."""
HEADER_TIMEOUT_SECONDS = 10.0
"""From a connection's opening (or a request's first byte) to the end of its headers."""
WORKER_HEALTHCHECK_SECONDS = 30
"""How long uvicorn's supervisor waits for a worker to answer its health ping before it
kills it and starts another (uvicorn's default: 5 s; newer uvicorns also give a worker
replaced on SIGHUP this long to start the application, about 2.5 s of CPU here).

A spawned worker answers only once its new interpreter has imported the console script's
module and uvicorn's configuration. On a loaded machine or under a container's CPU limit
CPU time takes several times as long: at a load of 8 to 13 on two cores a worker took 7 to
12 s to answer, was killed at 5 s, and so was each one started after it. 30 s is over
twice the slowest seen. The price: a worker that stops answering (stopped, or stuck in C
code holding the GIL; a busy event loop still answers, from another thread) is replaced
after 30 s rather than 5, and while the supervisor waits on one it handles no signal, so
a SIGTERM can wait as long before the graceful shutdown starts. With a hung worker, that
wait and the other workers' shutdown can outlast compose's 40 s `stop_grace_period`, and
Docker then kills the container, cutting any request still in progress; that takes a
worker already hung when the stop comes.
"""
LIMIT_CONCURRENCY = 500
"""Connections and requests in progress per worker before uvicorn answers 503 at once:
well under a container's usual 1024 descriptors, with room for the database pool."""

_TOO_LARGE_BODY = b'{"detail":"The request headers are larger than 32 KiB."}'
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TOO_LARGE_BODY), _TOO_LARGE_BODY)
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size and a time limit on each request's head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            # Still inside the head after parsing this chunk: all of it was head.
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEADER_BYTES:
                self.logger.warning("Request headers over %d bytes: refused", MAX_HEADER_BYTES)
                self.transport.write(_TOO_LARGE)
                self.transport.close()
            else:
                # Armed only for a head still incomplete after a read (the clock starts with
                # its first byte, as before): one that arrives whole, as nearly every request's
                # does, no longer costs a timer set and cancelled on the event loop.
                self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._disarm_head_timer()
        super().on_headers_complete()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(HEADER_TIMEOUT_SECONDS, self._head_timeout)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.close()


def uvicorn_limits() -> dict[str, Any]:
    """The keyword arguments of uvicorn.run that bound what one client can hold, how long a
    shutdown waits for requests in flight, and how long a worker may take to answer."""
    return {
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "timeout_worker_healthcheck": WORKER_HEALTHCHECK_SECONDS,
        "http": BoundedHttpToolsProtocol,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,  # the same, should h11 be used
        "limit_concurrency": LIMIT_CONCURRENCY,
        "server_header": False,  # no banner naming the server and so its version's flaws
        "ws": "none",  # no WebSocket routes: an upgrade request is served as plain HTTP
    }
