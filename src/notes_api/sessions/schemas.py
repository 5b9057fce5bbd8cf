from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from notes_api.sessions.exceptions import OAuthErrorCode

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
"""RFC 6749 section 5.1: token responses, errors included, must not be cached."""


class TokenResponse(BaseModel):
    """RFC 6749 section 5.1 successful response."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - RFC 6750 token type, not a secret
    expires_in: int
    refresh_token: str


class OAuthErrorResponse(BaseModel):
    """RFC 6749 section 5.2 error response."""

    error: OAuthErrorCode
    error_description: str
    mfa_token: str | None = None
    """Only with `mfa_required` (Auth0's shape): what the MFA grants take."""


class RevokeResponse(BaseModel):
    """RFC 7009 defines no body; an empty JSON object keeps every response JSON."""


class Identity(BaseModel):
    id: int
    username: str
    roles: list[str]
