"""Every request's client address in canonical form, or a 400 when a proxy forwarded no address.

Behind a trusted proxy uvicorn replaces the client address with the last
untrusted entry of `X-Forwarded-For`, unchecked: `1.2.3.4 forged=1`, a
72-character scoped IPv6 address or `010.001.002.001` arrive as they were
written. Downstream (throttling, the audit trail, logs) sees one spelling per
address (`ip_addresses.canonical_ip`). A request whose forwarded address is no
IP address is refused here, before anything counts or stores it: guessing
would put it in someone's bucket, and only a broken or bypassed proxy sends it.
A client without an address at all (a Unix socket, no proxy) passes unchanged.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from notes_api.ip_addresses import canonical_ip

FORWARDED_FOR = b"x-forwarded-for"


class ClientAddressMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] != "http" or not client or not client[0]:
            await self.app(scope, receive, send)
            return
        host, port = client
        canonical = canonical_ip(host)
        if canonical is None:
            if any(name == FORWARDED_FOR for name, _ in scope["headers"]):
                refusal = JSONResponse(
                    status_code=400,
                    content={"detail": "The forwarded client address is not an IP address"},
                )
                await refusal(scope, receive, send)
                return
        elif canonical != host:
            scope = {**scope, "client": (canonical, port)}
        await self.app(scope, receive, send)
