"""Self-service sign-up, when enabled (`ALLOW_SIGNUP`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, status

from notes_api.dependencies import AppSettings, DbSession
from notes_api.exceptions import NotFoundError
from notes_api.request_context import AnonymousActor
from notes_api.routing import PrefixCheckedRoute
from notes_api.users.schemas import (
    SignupAccepted,
    SignupRequest,
)
from notes_api.users.signup import SignupPolicy, SignupThrottledError, sign_up

router = APIRouter(route_class=PrefixCheckedRoute)


async def require_signup_enabled(settings: AppSettings) -> None:
    """404 while ALLOW_SIGNUP is off, decided before the body is validated, so a closed
    sign-up answers every request exactly like a path that does not exist."""
    if not settings.allow_signup:
        raise NotFoundError("Not Found")


@router.post(
    "/signup",
    response_model=SignupAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["users"],
    dependencies=[Depends(require_signup_enabled)],
    responses={
        404: {"description": "Sign-up is off (ALLOW_SIGNUP=false)"},
        429: {"description": "Too many sign-ups from this address"},
    },
)
async def signup(
    payload: SignupRequest, db: DbSession, actor: AnonymousActor, settings: AppSettings
) -> SignupAccepted:
    """Self-service registration when ALLOW_SIGNUP=true; new users get the `user` role.

    The answer is the same whether the account was created or the username or email
    was taken, so that nobody can learn from it who has an account: log in to know.
    """
    try:
        await sign_up(
            db,
            actor,
            SignupPolicy.from_settings(settings),
            username=payload.username,
            password=payload.password,
            email=payload.email,
        )
    except SignupThrottledError as throttled:
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail="Too many sign-ups from this address; try again later",
            headers={"Retry-After": str(throttled.retry_after_seconds)},
        ) from None
    return SignupAccepted()
