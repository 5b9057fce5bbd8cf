"""`POST /token` (RFC 6749), `POST /token/revoke` (RFC 7009) and `GET /identify/me`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from notes_api import metrics
from notes_api.auth.authorize import authenticated
from notes_api.auth.dependencies import CurrentToken
from notes_api.auth.passwords import HashingBusyError
from notes_api.dependencies import Codec, DbSession, Refresh, Throttle
from notes_api.request_context import client_ip
from notes_api.routing import PrefixCheckedRoute
from notes_api.sessions import refresh_throttle, second_factor, service
from notes_api.sessions.exceptions import InvalidGrantError, MfaRequiredError, OAuthError
from notes_api.sessions.issuing import TokenPair
from notes_api.sessions.schemas import (
    NO_STORE,
    Identity,
    OAuthErrorResponse,
    RevokeResponse,
    TokenRequest,
    TokenResponse,
)
from notes_api.sessions.session_store import ClientInfo
from notes_api.throttling.exceptions import LoginThrottledError

router = APIRouter(route_class=PrefixCheckedRoute, tags=["auth"])

TOKEN_PATHS = frozenset({"/token", "/token/revoke"})
"""Paths whose every error, malformed requests included, answers in RFC 6749's format."""

FormField = Annotated[str | None, Form()]


def throttled_error(throttled: LoginThrottledError) -> OAuthError:
    return OAuthError(
        "temporarily_unavailable",
        "Too many failed logins; try again later",
        status_code=429,
        retry_after=throttled.retry_after_seconds,
    )


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={
        400: {"model": OAuthErrorResponse, "description": "RFC 6749 error"},
        403: {
            "model": OAuthErrorResponse,
            "description": "`mfa_required`: go on with an MFA grant and the `mfa_token`",
        },
        429: {"model": OAuthErrorResponse, "description": "Too many failed attempts"},
        503: {"model": OAuthErrorResponse, "description": "Too many logins at once"},
    },
    summary="Log in, or trade a refresh token for a new token pair",
)
async def issue_token(
    request: Request,
    response: Response,
    db: DbSession,
    codec: Codec,
    policy: Refresh,
    throttle_policy: Throttle,
    form: Annotated[TokenRequest, Form()] = TokenRequest(),
) -> TokenResponse:
    """`grant_type=password` (the default when omitted), `grant_type=refresh_token`, or, after
    a password grant answered 403 `mfa_required`, one of the MFA grants with its `mfa_token`:
    `urn:notes-api:params:oauth:grant-type:mfa-otp` with `otp`, or
    `urn:notes-api:params:oauth:grant-type:mfa-recovery-code` with `recovery_code`.

    `scope`, `client_id` and `client_secret` are accepted and ignored: this
    service has one public client, and roles come from the database, not scopes.
    """
    grant_type = form.grant_type
    if grant_type in (None, "", "password"):
        if not form.username or not form.password:
            raise OAuthError("invalid_request", "username and password are required")
        try:
            verified = await service.authenticate(
                db, form.username, form.password, client_ip(request), throttle_policy
            )
        except InvalidGrantError:
            metrics.record_login(metrics.LoginOutcome.FAILED)
            raise OAuthError("invalid_grant", "Invalid username or password") from None
        except LoginThrottledError as throttled:
            metrics.record_login(metrics.LoginOutcome.THROTTLED)
            raise throttled_error(throttled) from None
        except MfaRequiredError as required:
            metrics.record_login(metrics.LoginOutcome.MFA_REQUIRED)
            raise OAuthError(
                "mfa_required",
                "A second factor is required: use an MFA grant with this mfa_token",
                status_code=403,
                mfa_token=required.mfa_token,
            ) from None
        except HashingBusyError as busy:
            raise OAuthError(
                "temporarily_unavailable",
                "Too many logins at once; try again shortly",
                status_code=503,
                retry_after=busy.retry_after_seconds,
            ) from None
        client = ClientInfo(client_ip(request), request.headers.get("user-agent"))
        try:
            pair = await service.open_session(db, verified, codec, policy, client)
        except InvalidGrantError:
            metrics.record_login(metrics.LoginOutcome.FAILED)
            raise OAuthError("invalid_grant", "Invalid username or password") from None
        metrics.record_login(metrics.LoginOutcome.SUCCEEDED)
    elif grant_type in second_factor.MFA_GRANTS:
        method = second_factor.MFA_GRANTS[grant_type]
        code = await _mfa_code(request, method, form.otp if method == "otp" else form.recovery_code)
        if not form.mfa_token:
            raise OAuthError("invalid_request", f"mfa_token and {method} are required")
        try:
            completed = await second_factor.complete_login(
                db, form.mfa_token, method, code, client_ip(request), throttle_policy
            )
        except InvalidGrantError:
            metrics.record_login(metrics.LoginOutcome.FAILED)
            raise OAuthError(
                "invalid_grant", "The code is wrong or the mfa_token is invalid or expired"
            ) from None
        except LoginThrottledError as throttled:
            metrics.record_login(metrics.LoginOutcome.THROTTLED)
            raise throttled_error(throttled) from None
        user = completed.user
        verified = service.VerifiedUser(user.id, user.username, user.hashed_password)
        client = ClientInfo(client_ip(request), request.headers.get("user-agent"))
        try:
            pair = await service.open_session(
                db, verified, codec, policy, client, completed.amr, second_factor_method=method
            )
        except InvalidGrantError:  # the password changed or the user was disabled meanwhile
            raise OAuthError("invalid_grant", "The mfa_token is invalid or expired") from None
        metrics.record_login(metrics.LoginOutcome.SUCCEEDED)
    elif grant_type == "refresh_token":
        if not form.refresh_token:
            raise OAuthError("invalid_request", "refresh_token is required")
        pair = await _refresh(
            db, form.refresh_token, codec, policy, throttle_policy, client_ip(request)
        )
    else:
        raise OAuthError(
            "unsupported_grant_type", "Use grant_type=password, refresh_token or an MFA grant"
        )
    response.headers.update(NO_STORE)
    return TokenResponse(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


async def _mfa_code(request: Request, method: second_factor.Method, parsed: str | None) -> str:
    """The code of an MFA grant. FastAPI reads `otp=` (sent empty) as absent; here it is a
    code, malformed like `12345`: 400 invalid_grant, counted as a wrong code against the
    mfa_token and the login throttle, so an empty code is no free probe. Only a parameter
    missing altogether is RFC 6749's invalid_request (section 5.2)."""
    if parsed is not None:
        return parsed
    # Each grant's code parameter is named after its method; the form is FastAPI's, cached.
    if (await request.form()).get(method) == "":
        return ""
    raise OAuthError("invalid_request", f"mfa_token and {method} are required")


async def _refresh(
    db: DbSession,
    refresh_token: str,
    codec: Codec,
    policy: Refresh,
    throttle_policy: Throttle,
    address: str | None,
) -> TokenPair:
    """The refresh grant, throttled per address on its failures."""
    try:
        await refresh_throttle.refuse_if_throttled(db, throttle_policy, address)
        return await service.rotate(db, refresh_token, codec, policy, address)
    except LoginThrottledError as throttled:
        raise OAuthError(
            "temporarily_unavailable",
            "Too many failed refresh attempts; try again later",
            status_code=429,
            retry_after=throttled.retry_after_seconds,
        ) from None
    except InvalidGrantError:
        await refresh_throttle.record_failure(db, address)
        raise OAuthError("invalid_grant", "Refresh token is invalid, expired or revoked") from None


@router.post(
    "/token/revoke",
    response_model=RevokeResponse,
    responses={
        400: {
            "model": OAuthErrorResponse,
            "description": "`invalid_request`: no `token`, or a malformed request",
        }
    },
    summary="Revoke a refresh token and every token of its login (RFC 7009)",
)
async def revoke_token(
    response: Response,
    db: DbSession,
    # RFC 7009: required. Sent empty, FastAPI reads it as absent: 400 "token is required".
    # minLength only in the schema: as a constraint it would refuse a token holding an
    # unpaired surrogate, which RFC 7009 answers like any invalid token, 200.
    token: Annotated[str, Form(json_schema_extra={"minLength": 1})],
    token_type_hint: FormField = None,
) -> RevokeResponse:
    """200 whether or not the token was known, as RFC 7009 asks; 400 `invalid_request`
    (RFC 6749's error format) when no token is sent.

    Access tokens cannot be revoked (they are verified with the key alone and
    expire within minutes); presenting one here is accepted and does nothing.
    """
    await service.revoke(db, token)
    response.headers.update(NO_STORE)
    return RevokeResponse()


@router.get("/identify/me", response_model=Identity, summary="Who the access token belongs to")
@authenticated
async def identify_me(token: CurrentToken) -> Identity:
    # Every role the token carries, those awaiting a second factor too: the page offers
    # their views, and a call answered 401 insufficient_user_authentication leads to step-up.
    roles = sorted({*token.roles, *token.withheld_roles})
    return Identity(id=token.id, username=token.username, roles=roles)
