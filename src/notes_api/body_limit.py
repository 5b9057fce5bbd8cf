"""Refuse request bodies over a size limit with 413 JSON, before anything parses them.

A pure ASGI middleware: a declared `Content-Length` over the limit is refused
before the application runs; a body without one (chunked) is counted as it
streams in, and the read that crosses the limit raises `BodyTooLargeError`.
That error is an `HTTPException`, so FastAPI lets it through its body parsing
(it turns other exceptions into a 400) and its exception middleware answers
413 JSON; if it escapes to this middleware instead, it answers here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.status import HTTP_413_CONTENT_TOO_LARGE
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_SIZE = 1024 * 1024
"""1 MiB: a note's largest valid body (100,000 characters) fits several times over."""
_MAX_DIGITS = 18


def document_body_limit(routes: Iterable[BaseRoute], max_body_size: int = MAX_BODY_SIZE) -> None:
    """Add the 413 to the OpenAPI description of every route that reads a body: a client
    (or a fuzzer) that sends a larger one gets it."""
    for route in routes:
        if isinstance(route, APIRoute) and route.body_field is not None:
            route.responses.setdefault(
                HTTP_413_CONTENT_TOO_LARGE,
                {"description": f"The request body is larger than {max_body_size} bytes"},
            )


class BodyTooLargeError(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(HTTP_413_CONTENT_TOO_LARGE, f"Request body is larger than {limit} bytes")


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_size: int = MAX_BODY_SIZE) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_body_size:
            await self._refuse(scope, receive, send)
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_size:
                    raise BodyTooLargeError(self.max_body_size)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLargeError:
            if response_started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = BodyTooLargeError(self.max_body_size)
        response = JSONResponse({"detail": error.detail}, status_code=error.status_code)
        await response(scope, receive, send)


def _declared_length(scope: Scope) -> int:
    """The `Content-Length` header, or 0 when absent or unreadable (the server frames those).

    Past 18 digits it is absurd anyway, and `int()` refuses strings over 4,300 digits.
    """
    value = Headers(scope=scope).get("content-length", "")
    if not (value.isascii() and value.isdigit()):
        return 0
    return int(value) if len(value) <= _MAX_DIGITS else sys.maxsize
