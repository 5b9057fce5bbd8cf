"""How `notes-api serve` (and so the image) runs uvicorn: what one client can hold, bounded.

uvicorn's httptools protocol bounds little of what a client sends or leaves unread: a 100 MB
header is parsed on the event loop (seconds during which nothing else is served); a
connection that never finishes its headers, a request whose declared body never comes and
an answer its client never reads each hold a connection, one of `LIMIT_CONCURRENCY`,
forever. `BoundedHttpToolsProtocol` answers 431 past MAX_HEADER_BYTES of head, closes a
connection whose head has not arrived within HEADER_TIMEOUT_SECONDS of its first byte (or
of the connection), answers 408 to a body not complete within BODY_TIMEOUT_SECONDS, and
drops a connection whose client has read nothing for WRITE_STALL_SECONDS. A reverse proxy in
front (compose has one) enforces the same; this holds without one too.

What the protocol answers itself, without the application (a request it cannot parse, a
head too large, a body too slow, the concurrency limit reached), it answers in the
application's form: a JSON `detail`, the security headers and an `X-Request-ID`, logged with
that id. uvicorn's own answers are plain text with none of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from notes_api import tracing
from notes_api.observability import REQUEST_ID_HEADER
from notes_api.security_headers import with_security_headers

GRACEFUL_SHUTDOWN_SECONDS = 30
"""Keep below the orchestrator's kill delay (compose `stop_grace_period: 40s`)."""
MAX_HEADER_BYTES = 32 * 1024
"""The request line and every header together: nginx's default buffers hold as much."""
HEADER_TIMEOUT_SECONDS = 10.0
"""From a connection's opening (or a request's first byte) to the end of its headers."""
WRITE_STALL_SECONDS = 60.0
"""How long answer bytes may wait on a client that takes none of them (the compose proxy
gives an answer 60 s to be written). What the socket's buffers (a few megabytes) cannot
take waits in memory until the client reads, and the connection, one of the
`LIMIT_CONCURRENCY` slots, stays open (closing it gracefully waits for the same buffer): a
client that never reads held both forever. Progress is seen in the transport's own buffer,
behind the kernel's: a client must take a few megabytes within this time to show it."""
BODY_TIMEOUT_SECONDS = 30.0
"""From the read that leaves a request's body unfinished (or, behind a pipelined request,
from that one's answer) to the end of the body (the compose proxy's own limit), whether or
not the application has answered meanwhile. A client that declares a body and sends it
slowly, or never, holds a connection all that time, and 500 of them fill
`LIMIT_CONCURRENCY`. The clock waits while the server is not asking for the body (no
`100 Continue` sent yet, or reading paused because the application has not taken what
came)."""
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
"""Connections and requests in progress per worker before `serve` answers 503 at once:
well under a container's usual 1024 descriptors, with room for the database pool."""

BUSY_RETRY_AFTER_SECONDS = 1
"""The concurrency limit's 503 asks to come back after this long, as the app's other 503s do."""

_HEAD_TOO_LARGE = f"The request headers are larger than {MAX_HEADER_BYTES // 1024} KiB."
_BUSY = "The server is at its limit of connections and requests; retry in a moment."
_LINE_ENDS = 2  # CRLF
_HEADER_OVERHEAD = len(b": ") + _LINE_ENDS
_REQUEST_LINE_OVERHEAD = len(b"  HTTP/1.1") + _LINE_ENDS + _LINE_ENDS  # and the empty line

logger = logging.getLogger("uvicorn.error")
"""uvicorn's own logger, where the refusals it would have logged go."""


def _error_answer(
    status: HTTPStatus, detail: str, retry_after: int | None = None
) -> tuple[str, list[tuple[bytes, bytes]], bytes]:
    """The request id, headers and body of an answer the protocol gives itself: the
    application's error body, its security headers, an id of its own, the connection closed."""
    request_id = tracing.random_hex_id(128)
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
        (REQUEST_ID_HEADER, request_id.encode("ascii")),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", b"%d" % retry_after))
    start = {"type": "http.response.start", "status": status, "headers": headers}
    return request_id, list(with_security_headers(start, authenticated=False)["headers"]), body


def _answering_app(
    status: HTTPStatus, detail: str, log_message: str, retry_after: int | None = None
) -> ASGIApp:
    """An ASGI app that gives that answer, for refusals decided once the head is parsed:
    uvicorn then runs it in place of the application, with its request cycle."""

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        request_id, headers, body = _error_answer(status, detail, retry_after)
        logger.warning(log_message, extra={"request_id": request_id})
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return answer


_ANSWER_HEAD_TOO_LARGE = _answering_app(
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
    _HEAD_TOO_LARGE,
    f"Request headers over {MAX_HEADER_BYTES} bytes: refused",
)
_ANSWER_BUSY = _answering_app(
    HTTPStatus.SERVICE_UNAVAILABLE, _BUSY, "Exceeded concurrency limit.", BUSY_RETRY_AFTER_SECONDS
)


def _parsed_head_bytes(method: bytes, url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """The size of a parsed head (request line and headers), less the optional spaces the
    parser drops around header values: at most one read's worth (256 KiB) can hide there."""
    return (
        _REQUEST_LINE_OVERHEAD
        + len(method)
        + len(url)
        + sum(len(name) + len(value) + _HEADER_OVERHEAD for name, value in headers)
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with limits on each request's head, body and answer, and
    its own answers in the application's form (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0  # of the reads that held only this head, and did not finish it
        self._head_start_bytes = 0  # of the read that held its start after another message
        self._read_bytes = 0  # of the read being parsed
        self._message_completed_in_read = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._write_mark = 0  # the unsent bytes when the write clock last (re)started
        self._body_clock_waited = False  # the body clock has waited for the server to ask
        self._live_cycles: list[Any] = []  # requests whose answers are not complete
        # This protocol applies uvicorn's concurrency limit itself (`_refusal`), so that its
        # 503 has the application's form; uvicorn's own check would answer in plain text.
        self._concurrency_limit, self.limit_concurrency = self.limit_concurrency, None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        self._disarm_body_timer()
        self._disarm_write_timer()
        # uvicorn tells only the last request parsed; one answering ahead of a pipelined one
        # would go on writing to a closed transport (uvloop raises).
        self._drop_unfinished_answers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn cancels its keep-alive timer on every read; its deadline is kept for bytes
        # that start no request (below).
        keep_alive = self.timeout_keep_alive_task
        keep_alive_deadline = None if keep_alive is None else keep_alive.when()
        self._read_bytes = len(data)
        self._message_completed_in_read = False
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._in_head:
            self._count_unfinished_head(len(data))
        elif self._body_timer is None and not self.pipeline and self._body_unfinished():
            # Armed only when a read leaves a body unfinished: most bodies come with their
            # head. Behind a pipelined request, from that one's answer (on_response_complete).
            self._arm_body_timer()
        elif self._idle_between_requests() and self.timeout_keep_alive_task is None:
            # Bytes between requests (a stray CRLF, which starts no message) cancelled
            # uvicorn's keep-alive timer: it runs on to the same deadline, not a new one (or,
            # when a body ended after its answer, from now).
            if keep_alive_deadline is None:
                keep_alive_deadline = self.loop.time() + self.timeout_keep_alive
            self.timeout_keep_alive_task = self.loop.call_at(
                keep_alive_deadline, self.timeout_keep_alive_handler
            )

    def _count_unfinished_head(self, read_bytes: int) -> None:
        """A read left the head unfinished: count it, and refuse the head past the limit
        before the rest arrives (no request cycle exists yet to answer it)."""
        if self._message_completed_in_read:
            # The read began with the end of an earlier message: how much of it is this head
            # is unknown, so it is not counted now, only bounded at the head's end.
            self._head_start_bytes = read_bytes
        else:
            self._head_bytes += read_bytes
        if self._head_bytes > MAX_HEADER_BYTES:
            self._answer_and_close(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                _HEAD_TOO_LARGE,
                f"Request headers over {MAX_HEADER_BYTES} bytes: refused",
            )
        else:
            # Armed only for a head still incomplete after a read (the clock starts with
            # its first byte, as before): one that arrives whole, as nearly every request's
            # does, costs no timer set and cancelled on the event loop.
            self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = self._head_start_bytes = 0

    def on_headers_complete(self) -> None:
        head_at_most = self._head_bytes + self._head_start_bytes + self._read_bytes
        self._in_head = False
        self._disarm_head_timer()
        refusal = self._refusal(head_at_most)
        if refusal is None:
            super().on_headers_complete()
            if self.parser.should_upgrade() and self.cycle is not None:
                # An upgrade this server does not make: httptools stops framing the message
                # at its head (a body would be read as the next request), so nothing after
                # it on this connection is served.
                self.cycle.keep_alive = False
        else:
            # uvicorn chooses the app to run inside on_headers_complete, with no hook: the
            # refusal stands in for the application during this one call (no await: nothing
            # else runs).
            application, self.app = self.app, refusal
            try:
                super().on_headers_complete()
            finally:
                self.app = application
        self._live_cycles = [c for c in self._live_cycles if not c.response_complete]
        self._live_cycles.append(self.cycle)

    def _refusal(self, head_at_most: int) -> ASGIApp | None:
        """What answers this parsed request instead of the application, if anything.

        `data_received` counts only the reads that held nothing but this head, and left it
        unfinished; the read that finishes it (up to 256 KiB, perhaps with a body) is not in
        that count. When everything together could be over the limit, the parsed head is
        measured; nearly every request's head comes in a read far smaller, and costs no
        measuring.
        """
        if head_at_most > MAX_HEADER_BYTES and (
            _parsed_head_bytes(self.parser.get_method(), self.url, self.headers) > MAX_HEADER_BYTES
        ):
            return _ANSWER_HEAD_TOO_LARGE
        limit = self._concurrency_limit
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            return _ANSWER_BUSY
        return None

    def on_message_complete(self) -> None:
        self._message_completed_in_read = True
        self._disarm_body_timer()
        super().on_message_complete()
        if self.cycle is not None:
            self.cycle.more_body = False  # uvicorn leaves it set once the answer is complete

    def on_response_complete(self) -> None:
        super().on_response_complete()  # starts the next pipelined request, if any
        self._watch_unsent()
        if self._body_timer is None and not self.pipeline and self._body_unfinished():
            self._arm_body_timer()

    def _body_unfinished(self) -> bool:
        """The last request parsed has declared more body than has come."""
        return self.cycle is not None and self.cycle.more_body and not self.transport.is_closing()

    def _idle_between_requests(self) -> bool:
        cycle = self.cycle
        return (
            cycle is not None
            and cycle.response_complete
            and not cycle.more_body
            and not self.pipeline
        )

    def _server_not_asking(self) -> bool:
        cycle = self.cycle
        return not cycle.response_started and (
            cycle.waiting_for_100_continue or self.flow.read_paused
        )

    def _arm_body_timer(self) -> None:
        if self._server_not_asking():
            # Look again soon: the clock starts when the server asks for the body.
            self._body_clock_waited = True
            delay = min(1.0, BODY_TIMEOUT_SECONDS)
        else:
            self._body_clock_waited = False
            delay = BODY_TIMEOUT_SECONDS
        self._body_timer = self.loop.call_later(delay, self._body_timeout)

    def _body_timeout(self) -> None:
        self._body_timer = None
        if not self._body_unfinished():
            return
        cycle = self.cycle
        if self._server_not_asking() or self._body_clock_waited:
            self._arm_body_timer()  # the server was not asking for the body yet
            return
        if cycle.response_started:
            # Answered without reading it all (a 404, the 413 of a body too large): nothing
            # to add, but the connection cannot carry another request until the body ends.
            logger.warning("Request body not complete after %g s: closed", BODY_TIMEOUT_SECONDS)
            self.transport.close()
            return
        # Once uvicorn handles the connection's loss, the application, waiting for the body,
        # hears that the client is gone, and what it would still send is dropped.
        self._answer_and_close(
            HTTPStatus.REQUEST_TIMEOUT,
            f"The request body did not arrive within {BODY_TIMEOUT_SECONDS:g} seconds.",
            f"Request body not complete after {BODY_TIMEOUT_SECONDS:g} s: refused",
        )

    def _disarm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def pause_writing(self) -> None:
        """The transport's buffer is full: the client is not reading as fast as we write."""
        super().pause_writing()
        self._watch_unsent()

    def _watch_unsent(self) -> None:
        """Answer bytes wait in the transport (it pauses only past 64 KiB; closing waits
        for them all): the client must take some within WRITE_STALL_SECONDS."""
        size = self.transport.get_write_buffer_size()
        if self._write_timer is None and size:
            self._write_mark = size
            self._write_timer = self.loop.call_later(WRITE_STALL_SECONDS, self._write_stalled)

    def resume_writing(self) -> None:
        self._disarm_write_timer()
        super().resume_writing()

    def _write_stalled(self) -> None:
        self._write_timer = None
        size = self.transport.get_write_buffer_size()
        if size < self._write_mark:  # the client took some (or all): it reads, slowly
            self._watch_unsent()
            return
        logger.warning("Answer not read for %g s: connection dropped", WRITE_STALL_SECONDS)
        # close() would wait to send the buffer first, which is what the client does not take.
        self.transport.abort()

    def _disarm_write_timer(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def send_400_response(self, msg: str) -> None:
        """A request that cannot be parsed as HTTP (uvicorn has logged why, without an id)."""
        self._answer_and_close(HTTPStatus.BAD_REQUEST, msg, "Answered 400: not HTTP", logging.INFO)

    def _answer_and_close(
        self, status: HTTPStatus, detail: str, log_message: str, level: int = logging.WARNING
    ) -> None:
        request_id, headers, body = _error_answer(status, detail)
        logger.log(level, log_message, extra={"request_id": request_id})
        head = [b"HTTP/1.1 %d %s\r\n" % (status, status.phrase.encode("ascii"))]
        head += [b"%s: %s\r\n" % header for header in self.server_state.default_headers]
        head += [b"%s: %s\r\n" % header for header in headers]
        self.transport.write(b"".join([*head, b"\r\n", body]))
        self.transport.close()
        self._drop_unfinished_answers()  # they would follow this one
        self._watch_unsent()

    def _drop_unfinished_answers(self) -> None:
        """Tell every request still answering that the client is gone: uvicorn then drops
        what it sends, and a request waiting for its body hears `http.disconnect`."""
        for cycle in self._live_cycles:
            if not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(HEADER_TIMEOUT_SECONDS, self._head_timeout)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.flow.read_paused and not self.transport.is_closing():
            self._arm_head_timer()  # reading paused for queued requests: the client cannot send
            return
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
