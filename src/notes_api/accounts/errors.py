"""The 429 of the account routes, in the token endpoint's format (DESIGN: the 429 body
uses error code `temporarily_unavailable`)."""

from __future__ import annotations

from notes_api.sessions.exceptions import OAuthError


def throttled_error(retry_after: int) -> OAuthError:
    return OAuthError(
        "temporarily_unavailable",
        "Too many attempts; try again later",
        status_code=429,
        retry_after=retry_after,
    )
