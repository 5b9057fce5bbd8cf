"""The last resort for unexpected errors, inside the middlewares that every answer needs.

Starlette answers an exception no handler took in its outermost layer, outside
every middleware: that 500 carries neither the security headers nor
`X-Request-ID`, and the access log records no answer for it. This middleware
sits inside those two and answers the same bare JSON 500 itself, logging the
traceback under `notes_api.errors`.
"""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("notes_api.errors")


class ErrorBoundaryMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:  # too late for another answer: the server closes the connection
                raise
            logger.exception("unhandled error: %s %s", scope["method"], scope["path"])
            answer = JSONResponse(status_code=500, content={"detail": "Internal server error"})
            await answer(scope, receive, send)
