from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class TokenResponse(BaseModel):
    """RFC 6749 section 5.1 successful response."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - RFC 6750 token type, not a secret
    expires_in: int
    refresh_token: str


class OAuthErrorResponse(BaseModel):
    """RFC 6749 section 5.2 error response."""

    error: Literal[
        "invalid_request",
        "invalid_grant",
        "unsupported_grant_type",
        "invalid_client",
        "temporarily_unavailable",
    ]
    error_description: str


class Identity(BaseModel):
    id: int
    username: str
    roles: list[str]


class RevokeResponse(BaseModel):
    """RFC 7009 defines no body; an empty JSON object keeps every response JSON."""
