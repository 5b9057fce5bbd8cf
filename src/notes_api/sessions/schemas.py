from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from notes_api.sessions.exceptions import OAuthErrorCode

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
"""RFC 6749 section 5.1: token responses, errors included, must not be cached."""


# One model rather than ten `Form()` parameters: FastAPI validates the form into it in one
# pass, where it looked up and inspected each parameter's annotation again on every request
# (docs/performance.md, "A login, counted in instructions").
class TokenRequest(BaseModel):
    """RFC 6749 token request (sections 4.3.2 and 6) and the MFA grants' fields. A field
    sent empty counts as absent."""

    model_config = ConfigDict(frozen=True)  # also the route's default: no body at all

    grant_type: str | None = None
    username: str | None = None
    password: str | None = None
    refresh_token: str | None = None
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    mfa_token: str | None = None
    otp: str | None = None
    recovery_code: str | None = None


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
