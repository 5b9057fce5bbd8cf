"""FastAPI dependencies that turn an `Authorization: Bearer` header into `TokenData`.

Errors follow RFC 6750 section 3: 401 with `WWW-Authenticate: Bearer` when no
token is sent, with `error="invalid_token"` when the token is unusable, its
session has ended or its user's roles or status changed after it was issued
(the worker's `RevocationCache`, no database read); 503 while the worker cannot
tell whether the token was revoked.

A JWT is verified with the key alone. A personal access token (`nap_...`, told
apart by its prefix, so JWT requests never wait for the database) is looked up
through the application's `PersonalTokenVerifier`, and refused on `/account`:
it may not manage credentials or make tokens.
"""

from __future__ import annotations

from typing import Annotated, Protocol, cast

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from notes_api.auth.personal_tokens import PersonalTokenVerifier, is_personal_token
from notes_api.auth.revocation_cache import (
    RevocationCache,
    RevocationStateUnknownError,
    TokenRevokedError,
)
from notes_api.auth.step_up import apply_step_up
from notes_api.auth.tokens import AccessTokenCodec, InvalidTokenError, TokenData

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)


class BearerVerification(Protocol):
    """What checking a bearer token needs from the application state.

    The application state is built from this package's parts, so this package must not
    import it: it names what it needs here, and `AppState` provides it (mypy checks that
    in `state`).
    """

    token_codec: AccessTokenCodec
    revocations: RevocationCache
    mfa_required_roles: frozenset[str]
    personal_tokens: PersonalTokenVerifier


def bearer_verification(request: Request) -> BearerVerification:
    return cast(BearerVerification, request.app.state)


ACCOUNT_PATH = "/account"


def not_authenticated() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Not authenticated",
        headers={"WWW-Authenticate": "Bearer"},
    )


def invalid_token() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Invalid or expired access token",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def personal_token_refused() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_403_FORBIDDEN,
        detail="A personal access token cannot manage the account; log in instead",
        headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
    )


def is_account_path(path: str) -> bool:
    return path == ACCOUNT_PATH or path.startswith(ACCOUNT_PATH + "/")


def revocation_state_unknown() -> HTTPException:
    """The worker lost touch with the database's revocations (usually: the database is
    down), so it cannot vouch for any access token: the same 503 as a database outage."""
    return HTTPException(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        detail="The database is unavailable; try again shortly.",
        headers={"Retry-After": "1"},
    )


async def get_token_data(
    request: Request,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> TokenData:
    if token is None:
        raise not_authenticated()
    verification = bearer_verification(request)
    if is_personal_token(token):
        return await _personal_token_data(request, verification.personal_tokens, token)
    try:
        data = verification.token_codec.decode(token)
    except InvalidTokenError:
        raise invalid_token() from None
    try:
        await verification.revocations.check_current(data.id, data.session_id, data.issued_at)
    except TokenRevokedError:
        raise invalid_token() from None
    except RevocationStateUnknownError:
        raise revocation_state_unknown() from None
    return apply_step_up(data, verification.mfa_required_roles)


async def _personal_token_data(
    request: Request, personal_tokens: PersonalTokenVerifier, token: str
) -> TokenData:
    try:
        data = await personal_tokens.verify(token)
    except InvalidTokenError:
        raise invalid_token() from None
    if is_account_path(request.url.path):
        raise personal_token_refused()
    return data


CurrentToken = Annotated[TokenData, Depends(get_token_data)]
