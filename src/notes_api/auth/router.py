"""`POST /token` (RFC 6749), `POST /token/revoke` (RFC 7009) and `GET /identify/me`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import JSONResponse

from notes_api.audit.dependencies import client_ip
from notes_api.auth import service
from notes_api.auth.authorize import authenticated
from notes_api.auth.dependencies import CurrentToken, get_token_codec
from notes_api.auth.schemas import Identity, OAuthErrorResponse, RevokeResponse, TokenResponse
from notes_api.auth.service import InvalidGrantError, RefreshPolicy
from notes_api.auth.throttle import LoginThrottledError, ThrottlePolicy
from notes_api.auth.tokens import AccessTokenCodec
from notes_api.database import DbSession
from notes_api.sessions.session_store import ClientInfo

router = APIRouter(tags=["auth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

FormField = Annotated[str | None, Form()]
Codec = Annotated[AccessTokenCodec, Depends(get_token_codec)]


class OAuthError(Exception):
    """An RFC 6749 section 5.2 error, answered as JSON with no-store headers (400 by default)."""

    def __init__(
        self, error: str, description: str, status_code: int = 400, retry_after: int | None = None
    ) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.headers = NO_STORE | ({"Retry-After": str(retry_after)} if retry_after else {})
        self.body = OAuthErrorResponse.model_validate(
            {"error": error, "error_description": description}
        )


def oauth_error_response(exc: OAuthError) -> JSONResponse:
    return JSONResponse(
        status_code=exc.status_code, content=exc.body.model_dump(), headers=exc.headers
    )


async def oauth_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OAuthError)  # noqa: S101 - registered for OAuthError only
    return oauth_error_response(exc)


def malformed_token_request() -> JSONResponse:
    """A token request FastAPI could not even parse (wrong field types, an upload, a broken
    multipart body) still answers in RFC 6749's format."""
    return oauth_error_response(OAuthError("invalid_request", "Malformed token request"))


TOKEN_REQUEST_ERRORS = {"/token": malformed_token_request, "/token/revoke": malformed_token_request}


async def get_refresh_policy(request: Request) -> RefreshPolicy:
    policy: RefreshPolicy = request.app.state.refresh_policy
    return policy


async def get_throttle_policy(request: Request) -> ThrottlePolicy:
    policy: ThrottlePolicy = request.app.state.throttle_policy
    return policy


Policy = Annotated[RefreshPolicy, Depends(get_refresh_policy)]
Throttle = Annotated[ThrottlePolicy, Depends(get_throttle_policy)]


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
    policy: Policy,
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
            raise OAuthError("invalid_grant", "Invalid username or password") from None
        except LoginThrottledError as throttled:
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
            raise OAuthError("invalid_grant", "Invalid username or password") from None
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
