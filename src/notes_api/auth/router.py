"""`GET /identify/me`: who the access token belongs to, from the token alone."""

from __future__ import annotations

from fastapi import APIRouter

from notes_api.auth.authorize import authenticated
from notes_api.auth.dependencies import CurrentToken
from notes_api.auth.schemas import Identity

router = APIRouter(tags=["auth"])


@router.get("/identify/me", response_model=Identity, summary="Who the access token belongs to")
@authenticated
async def identify_me(token: CurrentToken) -> Identity:
    return Identity(id=token.id, username=token.username, roles=token.roles)
