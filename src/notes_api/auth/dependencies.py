"""FastAPI dependencies that turn an `Authorization: Bearer` header into `TokenData`.

Errors follow RFC 6750 section 3: 401 with `WWW-Authenticate: Bearer` when no
token is sent, with `error="invalid_token"` when the token is unusable.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from notes_api.auth.tokens import AccessTokenCodec, InvalidTokenError, TokenData

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


async def get_token_codec(request: Request) -> AccessTokenCodec:
    """`async def` although it awaits nothing: FastAPI runs a plain `def` dependency in the
    thread pool, a hop that cost GET /identify/me more than the JWT check itself."""
    codec: AccessTokenCodec = request.app.state.token_codec
    return codec


async def get_token_data(
    token: Annotated[str | None, Depends(oauth2_scheme)],
    codec: Annotated[AccessTokenCodec, Depends(get_token_codec)],
) -> TokenData:
    if token is None:
        raise not_authenticated()
    try:
        return codec.decode(token)
    except InvalidTokenError:
        raise invalid_token() from None


CurrentToken = Annotated[TokenData, Depends(get_token_data)]
