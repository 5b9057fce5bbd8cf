"""`/account/*` (self-service) and `/users/{id}/sessions` (administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status

from notes_api.accounts import service
from notes_api.accounts.errors import throttled_error
from notes_api.accounts.schemas import (
    AccountRead,
    MfaState,
    PasswordChange,
    PasswordReset,
    SessionRead,
)
from notes_api.auth.authorize import authenticated, authorize
from notes_api.auth.dependencies import CurrentToken
from notes_api.auth.roles import BuiltinRole
from notes_api.auth.tokens import TokenData
from notes_api.dependencies import DbSession, Throttle
from notes_api.mfa import service as mfa_service
from notes_api.request_context import CurrentActor, client_ip
from notes_api.routing import UNKNOWN_USER, PrefixCheckedRoute
from notes_api.sessions.schemas import NO_STORE
from notes_api.sessions.session_model import LoginSession
from notes_api.sessions.session_store import EndCause
from notes_api.throttling.exceptions import LoginThrottledError
from notes_api.users.admin_actor import AdminActor
from notes_api.users.service import get_user
from notes_api.validation import DatabaseId

router = APIRouter(route_class=PrefixCheckedRoute, tags=["account"])

SessionId = Annotated[str, Path(min_length=1, max_length=64)]


def _refuse_personal_tokens(token: TokenData) -> None:
    """DESIGN: `/account/*` is for the person, not for a script's personal access token."""
    if token.via_personal_token:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Personal access tokens cannot use /account")


def _sessions(rows: list[LoginSession], current_sid: str | None) -> list[SessionRead]:
    return [
        SessionRead(
            id=row.sid,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            client_ip=row.client_ip,
            user_agent=row.user_agent,
            amr=row.methods,
            current=row.sid == current_sid,
        )
        for row in rows
    ]


@router.get("/account", response_model=AccountRead, summary="The caller's account")
@authenticated
async def read_account(db: DbSession, token: CurrentToken, response: Response) -> AccountRead:
    _refuse_personal_tokens(token)
    response.headers.update(NO_STORE)
    user = await get_user(db, token.id)
    totp, recovery_codes_left = await mfa_service.mfa_status(db, user.id)
    return AccountRead(
        id=user.id,
        username=user.username,
        email=user.email,
        roles=user.role_names,
        mfa=MfaState(totp=totp, recovery_codes_left=recovery_codes_left),
    )


@router.post(
    "/account/password",
    status_code=204,
    responses={
        400: {"description": "The current password is wrong"},
        429: {"description": "Too many wrong passwords for this account or address"},
    },
    summary="Change one's password; every other session ends",
)
@authenticated
async def change_password(
    payload: PasswordChange,
    db: DbSession,
    token: CurrentToken,
    actor: CurrentActor,
    throttle_policy: Throttle,
) -> Response:
    _refuse_personal_tokens(token)
    try:
        await service.change_password(
            db,
            actor,
            user_id=token.id,
            current_sid=token.session_id,
            current_password=payload.current_password,
            new_password=payload.new_password,
            throttle_policy=throttle_policy,
        )
    except LoginThrottledError as throttled:
        raise throttled_error(throttled.retry_after_seconds) from None
    return Response(status_code=204)


@router.get(
    "/account/sessions", response_model=list[SessionRead], summary="The caller's live sessions"
)
@authenticated
async def list_own_sessions(
    db: DbSession, token: CurrentToken, response: Response
) -> list[SessionRead]:
    _refuse_personal_tokens(token)
    response.headers.update(NO_STORE)
    return _sessions(await service.sessions_of(db, token.id), token.session_id)


@router.delete(
    "/account/sessions", status_code=204, summary="End every session but the current one"
)
@authenticated
async def end_other_sessions(db: DbSession, token: CurrentToken, actor: CurrentActor) -> Response:
    _refuse_personal_tokens(token)
    await service.end_sessions(db, actor, token.id, EndCause.USER, except_sid=token.session_id)
    return Response(status_code=204)


@router.delete(
    "/account/sessions/{session_id}",
    status_code=204,
    responses={404: {"description": "No such live session of the caller's"}},
    summary="End one of one's sessions",
)
@authenticated
async def end_own_session(
    session_id: SessionId, db: DbSession, token: CurrentToken, actor: CurrentActor
) -> Response:
    _refuse_personal_tokens(token)
    await service.end_own_session(db, actor, token.id, session_id)
    return Response(status_code=204)


@router.post(
    "/account/password/reset",
    status_code=204,
    responses={400: {"description": "The token is unknown, used, expired or malformed"}},
    summary="Set a new password with the token from the mail; every session ends",
)
async def reset_password(payload: PasswordReset, request: Request, db: DbSession) -> Response:
    await service.reset_password(
        db, token=payload.token, new_password=payload.new_password, client_ip=client_ip(request)
    )
    return Response(status_code=204)


@router.get(
    "/users/{user_id}/sessions",
    response_model=list[SessionRead],
    responses=UNKNOWN_USER,
    summary="A user's live sessions (administrators)",
)
@authorize(roles=BuiltinRole.ADMIN)
async def list_user_sessions(
    user_id: DatabaseId, db: DbSession, token: CurrentToken
) -> list[SessionRead]:
    await get_user(db, user_id)  # 404 for an unknown user
    return _sessions(await service.sessions_of(db, user_id), token.session_id)


@router.delete(
    "/users/{user_id}/sessions",
    status_code=204,
    responses=UNKNOWN_USER,
    summary="End every session of a user (administrators)",
)
@authorize(roles=BuiltinRole.ADMIN)
async def end_user_sessions(user_id: DatabaseId, db: DbSession, actor: AdminActor) -> Response:
    await service.end_sessions(db, actor, user_id, EndCause.ADMIN)
    return Response(status_code=204)
