"""Who is making a request, for the audit trail."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Annotated

from fastapi import Depends, Request

from notes_api.audit.service import Actor
from notes_api.auth.dependencies import CurrentToken


def client_ip(request: Request) -> str | None:
    """The client address, normalized; None when it is not an IP address.

    Behind trusted proxies uvicorn has already replaced it with the address in
    X-Forwarded-For, which a client may have filled with anything.
    """
    try:
        return str(ip_address(request.client.host)) if request.client else None
    except ValueError:
        return None


async def anonymous_actor(request: Request) -> Actor:
    return Actor(id=None, client_ip=client_ip(request))


async def current_actor(request: Request, token: CurrentToken) -> Actor:
    return Actor(id=token.id, client_ip=client_ip(request))


AnonymousActor = Annotated[Actor, Depends(anonymous_actor)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
