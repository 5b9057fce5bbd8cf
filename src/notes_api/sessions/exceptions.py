"""The token endpoint's errors: what its use cases raise, and the one RFC 6749 error.

Services raise `InvalidGrantError` (and the throttle `LoginThrottledError`); the router turns
them, and every other refusal of a token request, into an `OAuthError`: the
only way an RFC 6749 section 5.2 answer is produced. `exception_handlers`
renders it, for requests too malformed to reach the router as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from notes_api.throttling.exceptions import AttemptSettledError

OAuthErrorCode = Literal[
    "invalid_request",
    "invalid_grant",
    "unsupported_grant_type",
    "invalid_client",
    "temporarily_unavailable",
    "mfa_required",
]


class InvalidGrantError(AttemptSettledError):
    """RFC 6749 `invalid_grant`: wrong credentials, or an unusable refresh token."""


class MfaRequiredError(Exception):
    """The password was right, and the account has a second factor: the login goes on with
    the MFA grants and this challenge's `mfa_token`."""

    def __init__(self, mfa_token: str) -> None:
        super().__init__("a second factor is required")
        self.mfa_token = mfa_token


class OAuthError(Exception):
    """An RFC 6749 section 5.2 error, answered as JSON with no-store headers (400 by default)."""

    def __init__(
        self,
        error: OAuthErrorCode,
        description: str,
        status_code: int = 400,
        retry_after: int | None = None,
        mfa_token: str | None = None,
    ) -> None:
        super().__init__(description)
        self.mfa_token = mfa_token
        self.error: OAuthErrorCode = error
        self.description = description
        self.status_code = status_code
        self.retry_after = retry_after


def malformed_token_request(missing: Sequence[str] = ()) -> OAuthError:
    """A token request FastAPI could not even parse (a required field missing, wrong field
    types, an upload, a broken multipart body) still answers in RFC 6749's format, naming
    the `missing` fields when that is all that is wrong."""
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        return OAuthError("invalid_request", f"{' and '.join(missing)} {verb} required")
    return OAuthError("invalid_request", "Malformed token request")
