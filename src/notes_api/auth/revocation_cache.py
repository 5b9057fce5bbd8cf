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

A worker that stood still for a moment (a long garbage collection, a starved
CPU) finds its cache out of date when it moves again, although its feed is
fine and confirms on its next poll or ping, a fraction of a second later.
So a request that finds the cache out of date waits for that confirmation,
up to `catch_up_seconds`, before it is refused (`check_current`).

Pure: no FastAPI, no database, so the bearer dependency can use it and tests
can drive it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Iterable
from datetime import timedelta

TRUST_SECONDS = 1.0
"""How long a confirmation of the feed is trusted: a listener that went silent (a
dead connection nobody noticed) stops vouching for the cache after this long."""


CATCH_UP_SECONDS = 0.5
"""How long a request waits for the feed's next confirmation when the last one is too old.
Both feeds confirm every 0.2 s; during an outage this is what a 503 costs in latency."""


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
    def __init__(
        self,
        window_seconds: float,
        trust_seconds: float = TRUST_SECONDS,
        catch_up_seconds: float = CATCH_UP_SECONDS,
    ) -> None:
        self.window_seconds = window_seconds
        self.trust_seconds = trust_seconds
        self.catch_up_seconds = catch_up_seconds
        self._ended: dict[str, float] = {}
        """sid -> when it ended (epoch seconds, for pruning only)."""
        self._cut_offs: dict[int, float] = {}
        """user id -> tokens issued before this epoch time are refused."""
        self._confirmed_at = -math.inf
        """Monotonic time before which every revocation committed is applied."""
        self._waiters: dict[asyncio.Future[None], asyncio.AbstractEventLoop] = {}
        """Requests waiting for the next confirmation, each with its event loop: a test
        harness may run requests on another loop, in another thread, than the feed."""
        self._waiters_lock = threading.Lock()

    def check(self, user_id: int, session_id: str | None, issued_at: float) -> None:
        """Raise unless a token with these claims is known not to be revoked."""
        if time.monotonic() - self._confirmed_at > self.trust_seconds:
            raise RevocationStateUnknownError
        if session_id in self._ended:
            raise TokenRevokedError
        cut_off = self._cut_offs.get(user_id)
        if cut_off is not None and issued_at < cut_off:
            raise TokenRevokedError

    async def check_current(self, user_id: int, session_id: str | None, issued_at: float) -> None:
        """`check`, after waiting for the feed if the cache is out of date: the request's
        path pays nothing more than `check` unless it comes just after a standstill."""
        try:
            self.check(user_id, session_id, issued_at)
        except RevocationStateUnknownError:
            await self.wait_until_current()
            self.check(user_id, session_id, issued_at)

    def is_current(self) -> bool:
        return time.monotonic() - self._confirmed_at <= self.trust_seconds

    async def wait_until_current(self) -> None:
        """Return when the feed's confirmations make the cache current, or after
        `catch_up_seconds` if they do not (`check` then refuses)."""
        deadline = time.monotonic() + self.catch_up_seconds
        while not self.is_current() and (left := deadline - time.monotonic()) > 0:
            loop = asyncio.get_running_loop()
            confirmed = loop.create_future()
            with self._waiters_lock:
                self._waiters[confirmed] = loop
            try:
                await asyncio.wait_for(confirmed, left)
            except TimeoutError:
                return
            finally:
                with self._waiters_lock:
                    self._waiters.pop(confirmed, None)  # during an outage, one of many

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
        with self._waiters_lock:
            waiters, self._waiters = self._waiters, {}
        for confirmed, loop in waiters.items():
            # A loop closed under its waiter (a test harness's) must not break the feed.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake, confirmed)

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


def _wake(confirmed: asyncio.Future[None]) -> None:
    if not confirmed.done():  # a waiter that timed out has cancelled it
        confirmed.set_result(None)
