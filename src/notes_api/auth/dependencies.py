"""FastAPI dependencies that turn an `Authorization: Bearer` header into `TokenData`.

Errors follow RFC 6750 section 3: 401 with `WWW-Authenticate: Bearer` when no
token is sent, with `error="invalid_token"` when the token is unusable, its
session has ended or its user's roles or status changed after it was issued
(the worker's `RevocationCache`, no database read); 503 while the worker cannot
tell whether the token was revoked.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer

from notes_api.auth.revocation_cache import RevocationStateUnknownError, TokenRevokedError
from notes_api.auth.tokens import InvalidTokenError, TokenData
from notes_api.dependencies import Codec, Revocations

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)


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


def revocation_state_unknown() -> HTTPException:
    """The worker lost touch with the database's revocations (usually: the database is
    down), so it cannot vouch for any access token: the same 503 as a database outage."""
    return HTTPException(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        detail="The database is unavailable; try again shortly.",
        headers={"Retry-After": "1"},
    )


async def get_token_data(
    token: Annotated[str | None, Depends(oauth2_scheme)],
    codec: Codec,
    revocations: Revocations,
) -> TokenData:
    if token is None:
        raise not_authenticated()
    try:
        data = codec.decode(token)
    except InvalidTokenError:
        raise invalid_token() from None
    try:
        revocations.check(data.id, data.session_id, data.issued_at)
    except TokenRevokedError:
        raise invalid_token() from None
    except RevocationStateUnknownError:
        raise revocation_state_unknown() from None
    return data


CurrentToken = Annotated[TokenData, Depends(get_token_data)]
