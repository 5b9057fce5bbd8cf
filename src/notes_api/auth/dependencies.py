"""FastAPI dependencies that turn an `Authorization: Bearer` header into `TokenData`.

Errors follow RFC 6750 section 3: 401 with `WWW-Authenticate: Bearer` when no
token is sent, with `error="invalid_token"` when the token is unusable.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer

from notes_api.auth.step_up import apply_step_up
from notes_api.auth.tokens import InvalidTokenError, TokenData
from notes_api.dependencies import Codec, MfaRequiredRoles

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


async def get_token_data(
    token: Annotated[str | None, Depends(oauth2_scheme)],
    codec: Codec,
    mfa_required_roles: MfaRequiredRoles,
) -> TokenData:
    if token is None:
        raise not_authenticated()
    try:
        data = codec.decode(token)
    except InvalidTokenError:
        raise invalid_token() from None
    return apply_step_up(data, mfa_required_roles)


CurrentToken = Annotated[TokenData, Depends(get_token_data)]
