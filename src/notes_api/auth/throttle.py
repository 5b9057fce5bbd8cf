"""Brute-force protection for `POST /token` (OWASP ASVS V6.3, API2).

Failed logins are counted per (username, client address), with a delay that
doubles with each failure past the limit, and per client address, with a much
higher ceiling (an office behind one NAT address must not lock itself out). An
attacker hammering one account from one address therefore never locks the
owner out from another address, nor other accounts from the same address
below the ceiling. A throttled attempt is refused before any password hash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.auth.models import LoginFailure
from notes_api.clock import as_utc, utcnow
from notes_api.validation import storable_username

FIRST_DELAY = timedelta(seconds=30)


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures_per_user: int
    max_failures_per_address: int
    window: timedelta


class LoginThrottledError(Exception):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


def _address(client_ip: str | None) -> str:
    return (client_ip or "unknown")[:45]


async def check(
    db: AsyncSession, policy: ThrottlePolicy, username: str, client_ip: str | None
) -> None:
    """Raise `LoginThrottledError` if this login attempt must wait."""
    now = utcnow()
    since = now - policy.window
    address = _address(client_ip)
    count, last = (
        await db.execute(
            select(func.count(), func.max(LoginFailure.failed_at)).where(
                LoginFailure.username == storable_username(username),
                LoginFailure.client_ip == address,
                LoginFailure.failed_at > since,
            )
        )
    ).one()
    if count >= policy.max_failures_per_user and last is not None:
        excess = count - policy.max_failures_per_user
        delay = min(FIRST_DELAY * 2**excess, policy.window)
        _refuse_until(as_utc(last) + delay, now)
    count, oldest = (
        await db.execute(
            select(func.count(), func.min(LoginFailure.failed_at)).where(
                LoginFailure.client_ip == address, LoginFailure.failed_at > since
            )
        )
    ).one()
    if count >= policy.max_failures_per_address and oldest is not None:
        _refuse_until(as_utc(oldest) + policy.window, now)


def _refuse_until(until: datetime, now: datetime) -> None:
    if until > now:
        raise LoginThrottledError(max(1, math.ceil((until - now).total_seconds())))


async def record_failure(
    db: AsyncSession, policy: ThrottlePolicy, username: str, client_ip: str | None
) -> None:
    """Count a failure and forget failures older than the window (no cron job needed)."""
    now = utcnow()
    await db.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - policy.window))
    await db.execute(
        insert(LoginFailure).values(
            username=storable_username(username), client_ip=_address(client_ip), failed_at=now
        )
    )


async def clear(db: AsyncSession, username: str, client_ip: str | None) -> None:
    """A successful login forgets that pair's failures."""
    await db.execute(
        delete(LoginFailure).where(
            LoginFailure.username == storable_username(username),
            LoginFailure.client_ip == _address(client_ip),
        )
    )
