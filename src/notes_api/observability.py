"""Logging: one access line per request, tagged with request and trace ids, as text or JSON.

The access log is a pure ASGI middleware rather than `BaseHTTPMiddleware`, which
would run the endpoint in another task and buffer streaming responses. It replaces
uvicorn's access log (`notes-api serve` turns that off).

What a line holds is chosen field by field, never dumped: method, path without the
query string, status, duration, client address, request id, and the W3C trace
and span ids (the incoming `traceparent`'s trace when one is sent, so a line can
be found from a trace and back). Headers (so the Authorization header and
cookies), query strings and bodies (passwords, tokens) never reach the log.

The same middleware counts the request in the Prometheus metrics: it has
already timed it, and one middleware costs less than two.
"""

from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notes_api import tracing
from notes_api.instrumentation import observe_request

REQUEST_ID_HEADER = b"x-request-id"
MAX_REQUEST_ID_LENGTH = 128
MAX_LOGGED_CLIENT_LENGTH = 100
ACCESS_FIELDS = (
    "request_id",
    "trace_id",
    "span_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "client",
)
"""Record attributes a JSON line carries as its own keys when present."""

LOGGERS = ("notes_api", "uvicorn")
"""Loggers set to LOG_LEVEL; everything else keeps the root logger's WARNING."""

_HANDLER_NAME = "notes_api"

access_logger = logging.getLogger("notes_api.access")
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
"""The request being served, so any record logged while serving it carries its id."""
current_trace: ContextVar[tuple[str, str] | None] = ContextVar("current_trace", default=None)
"""The (trace id, span id) of the request being served, for the same reason."""


def sane_request_id(value: bytes) -> str | None:
    """A caller's X-Request-ID if it is 1 to 128 visible ASCII characters, else None.

    Anything else (spaces, control characters, non-ASCII, overlong) could forge or
    break log lines, so it is replaced by a generated id rather than cleaned up.
    """
    if 0 < len(value) <= MAX_REQUEST_ID_LENGTH and all(0x21 <= byte <= 0x7E for byte in value):
        return value.decode("ascii")
    return None


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return sane_request_id(value)
    return None


def _trace_ids(scope: Scope, tracing_on: bool) -> tuple[str, str]:
    """This request's trace and span ids: the server span's when tracing is on; otherwise
    the incoming `traceparent`'s trace id (or a new one) and a new span id."""
    if tracing_on and (ids := tracing.span_ids_from_context()) is not None:
        return ids
    return tracing.incoming_trace_id(scope) or tracing.new_trace_id(), tracing.new_span_id()


class AccessLogMiddleware:
    """Log every HTTP request once, when it ends, and echo its id in `X-Request-ID`.

    `tracing_on`: OpenTelemetry's middleware runs outside this one, so the
    request's server span is current here and its ids are the ones logged.
    """

    def __init__(self, app: ASGIApp, tracing_on: bool = False) -> None:
        self.app = app
        self.tracing_on = tracing_on

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _incoming_request_id(scope) or tracing.random_hex_id(128)
        status = 500  # what the client gets if the app raises before answering

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != REQUEST_ID_HEADER
                ]
                headers.append((REQUEST_ID_HEADER, request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        started = time.perf_counter()
        trace_id, span_id = _trace_ids(scope, self.tracing_on)
        context_token = current_request_id.set(request_id)
        trace_token = current_trace.set((trace_id, span_id))
        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            seconds = time.perf_counter() - started
            observe_request(scope, status, seconds)
            duration_ms = round(seconds * 1000, 2)
            method = scope["method"]
            # Quoted like uvicorn does: a decoded path could carry a newline into a text log.
            path = quote(scope["path"])
            client = _client_for_log(scope)
            access_logger.info(
                "%s %s %d %.2fms client=%s",
                method,
                path,
                status,
                duration_ms,
                quote(client, safe=":.") if client else "-",
                extra={
                    "request_id": request_id,
                    "trace_id": trace_id,
                    "span_id": span_id,
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": duration_ms,
                    "client": client,
                },
            )
            current_trace.reset(trace_token)
            current_request_id.reset(context_token)


def _client_for_log(scope: Scope) -> str | None:
    """The client address as received, cut to `MAX_LOGGED_CLIENT_LENGTH`: behind a trusted
    proxy it is whatever X-Forwarded-For said (a text line percent-encodes it, so a space
    or a newline cannot start a forged field or line)."""
    client = scope.get("client")
    return str(client[0])[:MAX_LOGGED_CLIENT_LENGTH] if client and client[0] else None


def _add_request_id(record: logging.LogRecord) -> bool:
    if not hasattr(record, "request_id"):
        record.request_id = current_request_id.get()
    if not hasattr(record, "trace_id") and (ids := current_trace.get()) is not None:
        record.trace_id, record.span_id = ids
    return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """`<time> <LEVEL> <logger> <message> request_id=<id> trace_id=<id> span_id=<id>`."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name} {record.getMessage()}"
        for field in ("request_id", "trace_id", "span_id"):
            value = getattr(record, field, None)
            if value is not None:
                line += f" {field}={value}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the access fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in ACCESS_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str, log_format: Literal["text", "json"]) -> None:
    """Send the application's and uvicorn's records to one stderr handler.

    Idempotent: a second call replaces the handler instead of adding another, so
    building several apps in one process (tests, reload) never doubles a line.
    The handler sits on the root logger, whose level is left alone (WARNING by
    default): libraries stay quiet, and SQLAlchemy, which logs every statement
    with its parameters at INFO, cannot leak rows into the log at LOG_LEVEL=DEBUG.
    """
    root = logging.getLogger()
    for old in [handler for handler in root.handlers if handler.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_add_request_id)
    root.addHandler(handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(level)
