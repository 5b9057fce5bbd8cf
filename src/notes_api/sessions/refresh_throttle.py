"""The refresh grant's throttle: failed refresh attempts, counted per client address.

A refresh token cannot be guessed (256 bits), but a client replaying a dead
token in a loop still costs a database round trip per attempt, each reuse of
a spent one used to write an audit row, and nothing stopped it. Failed
refresh grants are recorded with the login attempts, under a marker that no
username can spell, and past `LOGIN_MAX_FAILURES_PER_ADDRESS` of them within
the window an address gets 429 before its token is even looked up. The
failures also count toward that address's login ceiling: a client that
fails a hundred refreshes has no business guessing passwords either.
Successful refreshes are not counted (an office behind one address refreshes
all day).
"""

from __future__ import annotations

import math

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.clock import as_utc, utcnow
from notes_api.policies import ThrottlePolicy
from notes_api.throttling.exceptions import LoginThrottledError
from notes_api.throttling.models import LoginAttempt
from notes_api.throttling.throttle import address_key

REFRESH_MARKER = "#refresh"
"""Stored in place of a username: usernames are lower-case slugs, never this."""


async def refuse_if_throttled(
    db: AsyncSession, policy: ThrottlePolicy, client_ip: str | None
) -> None:
    now = utcnow()
    failures, oldest = (
        await db.execute(
            select(func.count(), func.min(LoginAttempt.failed_at)).where(
                LoginAttempt.username == REFRESH_MARKER,
                LoginAttempt.client_ip == address_key(client_ip),
                LoginAttempt.failed_at > now - policy.window,
            )
        )
    ).one()
    await db.commit()
    if failures >= policy.max_failures_per_address and oldest is not None:
        until = as_utc(oldest) + policy.window
        raise LoginThrottledError(max(1, math.ceil((until - now).total_seconds())))


async def record_failure(db: AsyncSession, client_ip: str | None) -> None:
    await db.execute(
        insert(LoginAttempt).values(
            username=REFRESH_MARKER,
            client_ip=address_key(client_ip),
            failed_at=utcnow(),
            pending=False,
        )
    )
    await db.commit()
