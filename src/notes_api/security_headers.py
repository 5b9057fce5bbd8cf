"""Security headers on every response.

`X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer` go on
everything. A response that sets its own `Content-Security-Policy` (the web
page, the docs pages) keeps it; every other response (JSON, static files) gets
`API_CSP`, which lets nothing load or run and nothing frame it.

An answer to a request that carried credentials (`Authorization`) gets
`Cache-Control: no-store` unless it set its own: it is someone's data, and no
shared or browser cache may keep it. So does every 401, credentials or not: it
answers for the credentials that were missing, and a cache, which does not key
on `Authorization`, must not hand it to the next request that carries them
(`GET /metrics` is "never cached", its challenge included). A 204 has no body,
so no `Content-Type`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'"
NO_CONTENT = 204
UNAUTHORIZED = 401

DEFAULT_HEADERS = {
    "Content-Security-Policy": API_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_DEFAULT_RAW_HEADERS = tuple(
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in DEFAULT_HEADERS.items()
)
_NO_STORE = (b"cache-control", b"no-store")
_CONTENT_TYPE = b"content-type"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        authenticated = any(name == b"authorization" for name, _ in scope["headers"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = with_security_headers(message, authenticated)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def with_security_headers(start: Message, authenticated: bool) -> Message:
    """The `http.response.start` message with the headers it lacks added.

    One pass over the raw headers, where Starlette's `MutableHeaders.setdefault` scanned
    them and encoded a name for each header it added, on every answer
    (docs/performance.md, "One note, counted in instructions").
    """
    headers = list(start.get("headers", ()))
    present = {name.lower() for name, _ in headers}
    headers += [header for header in _DEFAULT_RAW_HEADERS if header[0] not in present]
    status = start["status"]
    if (authenticated or status == UNAUTHORIZED) and _NO_STORE[0] not in present:
        headers.append(_NO_STORE)
    if status == NO_CONTENT and _CONTENT_TYPE in present:
        headers = [header for header in headers if header[0].lower() != _CONTENT_TYPE]
    return {**start, "headers": headers}
