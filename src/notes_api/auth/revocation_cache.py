"""Each worker's copy of what revokes access tokens: ended sessions and per-user cut-offs.

An access token is refused when its session (`sid`) has ended, or when it was
issued (`iat`) before its user's cut-off (a role taken away, the user
disabled). Only what happened within the access-token lifetime matters: older
tokens have expired anyway, so entries older than `window_seconds` are pruned.

The cache is kept current by a feed (`notes_api.sessions.revocation_feed`):
PostgreSQL notifications, or polling on SQLite. The feed confirms, from time to
time, that everything committed before a given moment has been applied. A
token is only checked against a cache confirmed within `trust_seconds`;
otherwise the worker cannot tell whether the token was revoked, and refuses
it (503) rather than let a revoked one through. Checking costs two dict
lookups and a clock read: no database round trip.

Pure: no FastAPI, no database, so the bearer dependency can use it and tests
can drive it directly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from datetime import timedelta

TRUST_SECONDS = 1.0
"""How long a confirmation of the feed is trusted: a listener that went silent (a
dead connection nobody noticed) stops vouching for the cache after this long."""


class TokenRevokedError(Exception):
    """The token's session ended, or its user's roles or status changed after it was issued."""


class RevocationStateUnknownError(Exception):
    """The worker cannot tell whether the token was revoked: the feed is not current."""


WINDOW_MARGIN_SECONDS = 60.0
"""Beyond the access-token lifetime: clock leeway and skew between hosts."""


def cache_window(access_token_lifetime: timedelta) -> float:
    """How long an ended session or a cut-off must be remembered: as long as a token
    issued before it can still be presented."""
    return access_token_lifetime.total_seconds() + WINDOW_MARGIN_SECONDS


class RevocationCache:
    def __init__(self, window_seconds: float, trust_seconds: float = TRUST_SECONDS) -> None:
        self.window_seconds = window_seconds
        self.trust_seconds = trust_seconds
        self._ended: dict[str, float] = {}
        """sid -> when it ended (epoch seconds, for pruning only)."""
        self._cut_offs: dict[int, float] = {}
        """user id -> tokens issued before this epoch time are refused."""
        self._confirmed_at = -math.inf
        """Monotonic time before which every revocation committed is applied."""

    def check(self, user_id: int, session_id: str | None, issued_at: float) -> None:
        """Raise unless a token with these claims is known not to be revoked."""
        if time.monotonic() - self._confirmed_at > self.trust_seconds:
            raise RevocationStateUnknownError
        if session_id in self._ended:
            raise TokenRevokedError
        cut_off = self._cut_offs.get(user_id)
        if cut_off is not None and issued_at < cut_off:
            raise TokenRevokedError

    def is_current(self) -> bool:
        return time.monotonic() - self._confirmed_at <= self.trust_seconds

    def has_ended(self, sid: str) -> bool:
        return sid in self._ended

    def session_ended(self, sid: str, at: float | None = None) -> None:
        self._ended[sid] = time.time() if at is None else at

    def cut_off(self, user_id: int, at: float) -> None:
        """Cut-offs only move forward: a late or repeated notice never shortens one."""
        if at > self._cut_offs.get(user_id, -math.inf):
            self._cut_offs[user_id] = at

    def merge(
        self, ended: Iterable[tuple[str, float]], cut_offs: Iterable[tuple[int, float]]
    ) -> None:
        for sid, at in ended:
            self._ended[sid] = at
        for user_id, at in cut_offs:
            self.cut_off(user_id, at)

    def confirm(self, as_of: float) -> None:
        """Everything committed before monotonic time `as_of` has been applied."""
        self._confirmed_at = max(self._confirmed_at, as_of)

    def invalidate(self) -> None:
        """The feed broke: nothing vouches for the cache until it is reloaded."""
        self._confirmed_at = -math.inf

    def prune(self) -> None:
        """Forget what no unexpired token can be affected by any more."""
        horizon = time.time() - self.window_seconds
        self._ended = {sid: at for sid, at in self._ended.items() if at >= horizon}
        self._cut_offs = {user: at for user, at in self._cut_offs.items() if at >= horizon}

    def __len__(self) -> int:
        return len(self._ended) + len(self._cut_offs)
