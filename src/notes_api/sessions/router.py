"""`POST /token` (RFC 6749), `POST /token/revoke` (RFC 7009) and `GET /identify/me`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from notes_api import metrics
from notes_api.auth.authorize import authenticated
from notes_api.auth.dependencies import CurrentToken
from notes_api.dependencies import Codec, DbSession, Refresh, Throttle
from notes_api.request_context import client_ip
from notes_api.sessions import service
from notes_api.sessions.exceptions import InvalidGrantError, LoginThrottledError, OAuthError
from notes_api.sessions.schemas import (
    NO_STORE,
    Identity,
    OAuthErrorResponse,
    RevokeResponse,
    TokenResponse,
)
from notes_api.sessions.session_store import ClientInfo

router = APIRouter(tags=["auth"])

TOKEN_PATHS = frozenset({"/token", "/token/revoke"})
"""Paths whose every error, malformed requests included, answers in RFC 6749's format."""

FormField = Annotated[str | None, Form()]


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={
        400: {"model": OAuthErrorResponse, "description": "RFC 6749 error"},
        429: {"model": OAuthErrorResponse, "description": "Too many failed logins"},
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
    grant_type: FormField = None,
    username: FormField = None,
    password: FormField = None,
    refresh_token: FormField = None,
    scope: FormField = None,
    client_id: FormField = None,
    client_secret: FormField = None,
) -> TokenResponse:
    """`grant_type=password` (the default when omitted) or `grant_type=refresh_token`.

    `scope`, `client_id` and `client_secret` are accepted and ignored: this
    service has one public client, and roles come from the database, not scopes.
    """
    if grant_type in (None, "", "password"):
        if not username or not password:
            raise OAuthError("invalid_request", "username and password are required")
        try:
            verified = await service.authenticate(
                db, username, password, client_ip(request), throttle_policy
            )
        except InvalidGrantError:
            metrics.record_login(metrics.LoginOutcome.FAILED)
            raise OAuthError("invalid_grant", "Invalid username or password") from None
        except LoginThrottledError as throttled:
            metrics.record_login(metrics.LoginOutcome.THROTTLED)
            raise OAuthError(
                "temporarily_unavailable",
                "Too many failed logins; try again later",
                status_code=429,
                retry_after=throttled.retry_after_seconds,
            ) from None
        client = ClientInfo(client_ip(request), request.headers.get("user-agent"))
        try:
            pair = await service.open_session(db, verified, codec, policy, client)
        except InvalidGrantError:
            metrics.record_login(metrics.LoginOutcome.FAILED)
            raise OAuthError("invalid_grant", "Invalid username or password") from None
        metrics.record_login(metrics.LoginOutcome.SUCCEEDED)
    elif grant_type == "refresh_token":
        if not refresh_token:
            raise OAuthError("invalid_request", "refresh_token is required")
        try:
            pair = await service.rotate(db, refresh_token, codec, policy, client_ip(request))
        except InvalidGrantError:
            raise OAuthError(
                "invalid_grant", "Refresh token is invalid, expired or revoked"
            ) from None
    else:
        raise OAuthError("unsupported_grant_type", "Use grant_type=password or refresh_token")
    response.headers.update(NO_STORE)
    return TokenResponse(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


@router.post(
    "/token/revoke",
    response_model=RevokeResponse,
    summary="Revoke a refresh token and every token of its login (RFC 7009)",
)
async def revoke_token(
    response: Response, db: DbSession, token: FormField = None, token_type_hint: FormField = None
) -> RevokeResponse:
    """Always 200, as RFC 7009 asks, whether or not the token was known.

    Access tokens cannot be revoked (they are verified with the key alone and
    expire within minutes); presenting one here is accepted and does nothing.
    """
    if not token:
        raise OAuthError("invalid_request", "token is required")
    await service.revoke(db, token)
    response.headers.update(NO_STORE)
    return RevokeResponse()


@router.get("/identify/me", response_model=Identity, summary="Who the access token belongs to")
@authenticated
async def identify_me(token: CurrentToken) -> Identity:
    return Identity(id=token.id, username=token.username, roles=token.roles)
