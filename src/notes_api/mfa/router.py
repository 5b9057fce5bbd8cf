"""Enrolling and removing one's own second factor; an administrator's reset for a lost phone.

`/account/*` routes need a valid access token but no role, and never a second
factor: a user whose role requires one logs in with the password alone and
enrolls here (see `auth.authorize`).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from notes_api.auth.authorize import authenticated, authorize
from notes_api.auth.dependencies import CurrentToken
from notes_api.auth.roles import BuiltinRole
from notes_api.dependencies import DbSession, Throttle
from notes_api.mfa import service
from notes_api.mfa.schemas import CodeRequest, RecoveryCodes, TotpEnrollment
from notes_api.request_context import CurrentActor
from notes_api.routing import UNKNOWN_USER, PrefixCheckedRoute
from notes_api.throttling.exceptions import LoginThrottledError
from notes_api.users.admin_actor import AdminActor
from notes_api.validation import DatabaseId

router = APIRouter(route_class=PrefixCheckedRoute, tags=["second factor"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
"""A secret and recovery codes must not stay in any cache."""


@router.post(
    "/account/mfa/totp",
    response_model=TotpEnrollment,
    status_code=201,
    responses={409: {"description": "A second factor is already active"}},
    summary="Start TOTP enrollment: a new secret and its QR code, pending until confirmed",
)
@authenticated
async def begin_totp_enrollment(
    db: DbSession, actor: CurrentActor, token: CurrentToken, response: Response
) -> TotpEnrollment:
    enrollment = await service.begin_enrollment(db, actor, token.username)
    response.headers.update(NO_STORE)
    return TotpEnrollment(
        secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri, qr_svg=enrollment.qr_svg
    )


@router.post(
    "/account/mfa/totp/confirm",
    response_model=RecoveryCodes,
    responses={
        400: {"description": "Wrong code"},
        409: {"description": "No pending enrollment"},
    },
    summary="Activate TOTP with a first code; returns ten recovery codes, once",
)
@authenticated
async def confirm_totp_enrollment(
    payload: CodeRequest,
    db: DbSession,
    actor: CurrentActor,
    token: CurrentToken,
    response: Response,
) -> RecoveryCodes:
    codes = await service.confirm_enrollment(db, actor, token.username, payload.code)
    response.headers.update(NO_STORE)
    return RecoveryCodes(recovery_codes=codes)


@router.delete(
    "/account/mfa/totp",
    status_code=204,
    responses={
        400: {"description": "Wrong code"},
        409: {"description": "No second factor is active"},
        429: {"description": "Too many wrong codes"},
    },
    summary="Remove one's second factor, proving it with a TOTP or a recovery code",
)
@authenticated
async def remove_totp(
    payload: CodeRequest,
    db: DbSession,
    actor: CurrentActor,
    token: CurrentToken,
    throttle_policy: Throttle,
) -> None:
    try:
        await service.disable_with_code(db, actor, token.username, payload.code, throttle_policy)
    except LoginThrottledError as throttled:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "Too many wrong codes; try again later",
            headers={"Retry-After": str(throttled.retry_after_seconds)},
        ) from None


@router.delete(
    "/users/{user_id}/mfa",
    status_code=204,
    tags=["users"],
    responses=UNKNOWN_USER,
    summary="Remove a user's second factor (a lost phone); idempotent",
)
@authorize(roles=BuiltinRole.ADMIN)
async def reset_user_mfa(user_id: DatabaseId, db: DbSession, actor: AdminActor) -> None:
    await service.reset_by_admin(db, actor, user_id)
