"""Who is making a request, for the audit trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from notes_api.actor import Actor
from notes_api.auth.dependencies import CurrentToken
from notes_api.ip_addresses import canonical_ip


def client_ip(request: Request) -> str | None:
    """The client address in canonical form; None when it is not an IP address.

    `ClientAddressMiddleware` has already canonicalized it (behind trusted proxies
    uvicorn took it from X-Forwarded-For, which a client may have filled with
    anything); parsing again keeps this true wherever the request came from.
    """
    return canonical_ip(request.client.host) if request.client else None


async def anonymous_actor(request: Request) -> Actor:
    return Actor(id=None, client_ip=client_ip(request))


async def current_actor(request: Request, token: CurrentToken) -> Actor:
    return Actor(id=token.id, client_ip=client_ip(request))


AnonymousActor = Annotated[Actor, Depends(anonymous_actor)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
