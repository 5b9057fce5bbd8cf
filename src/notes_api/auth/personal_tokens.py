"""Personal access tokens, the pure part: how one looks, how it is stored, who checks it.

A personal token is `nap_` and 43 URL-safe characters (256 random bits). The
prefix lets the bearer dependency tell it from a JWT without a database read,
and lets secret scanners recognise a leaked one. Only its SHA-256 digest is
stored: with 256 bits of entropy nothing can be guessed from the digest, and
the server finds the row by the digest's unique index, so an unknown token and
a wrong one take the same path.

Checking one needs the database (its row, the owner's current roles and
`disabled` flag); the identity core does not reach the database itself, so
the application state holds a `PersonalTokenVerifier` that does.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Protocol

from notes_api.auth.tokens import TokenData

PERSONAL_TOKEN_PREFIX = "nap_"  # noqa: S105 - the public prefix, not a secret
PERSONAL_TOKEN_BYTES = 32
_WELL_FORMED = re.compile(r"nap_[A-Za-z0-9_-]{43,128}")


class PersonalTokenVerifier(Protocol):
    async def verify(self, token: str) -> TokenData:
        """The caller the token stands for; `InvalidTokenError` if it is unknown, expired,
        deleted or its owner disabled."""
        ...


def is_personal_token(token: str) -> bool:
    return token.startswith(PERSONAL_TOKEN_PREFIX)


def is_well_formed(token: str) -> bool:
    return _WELL_FORMED.fullmatch(token) is not None


def new_personal_token() -> str:
    return PERSONAL_TOKEN_PREFIX + secrets.token_urlsafe(PERSONAL_TOKEN_BYTES)


def hash_personal_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()
