"""Brute-force protection for `POST /token` (OWASP ASVS V2.2.1, API2).

Failed logins are counted per (username, client address), with a delay that
doubles with each failure past the limit, and per client address, with a much
higher ceiling (an office behind one NAT address must not lock itself out). An
attacker hammering one account from one address therefore never locks the
owner out from another address, nor other accounts from the same address
below the ceiling. IPv6 clients are counted per /64, the block one subscriber
usually holds. A throttled attempt is refused before any password hash.

Every attempt is first recorded as a failure and committed, and only then are
the limits checked: of N concurrent attempts, the k-th to commit sees at least
k - 1 others, so no burst can slip more guesses through than the limit allows.
A successful login clears its (username, address) pair; a throttled one
withdraws its record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv6Address, ip_address, ip_network

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.auth.models import LoginFailure
from notes_api.clock import as_utc, utcnow
from notes_api.validation import storable_username

FIRST_DELAY = timedelta(seconds=30)
MAX_DOUBLINGS = 16
"""30 s x 2^16 is far past any window: the delay is capped by the window long before."""


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures_per_user: int
    max_failures_per_address: int
    window: timedelta


class LoginThrottledError(Exception):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


def address_key(client_ip: str | None) -> str:
    """The address failures are counted under: the IPv4 address, or the IPv6 /64."""
    try:
        address = ip_address(client_ip or "")
    except ValueError:
        return "unknown"
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ip_network(f"{address}/64", strict=False))
    return str(address)


async def reserve_attempt(
    db: AsyncSession, policy: ThrottlePolicy, username: str, client_ip: str | None
) -> None:
    """Record this attempt as a failure, then raise `LoginThrottledError` if it must wait.

    Commits, so that concurrent attempts see each other and no transaction stays
    open while the caller hashes the password.
    """
    now = utcnow()
    user, address = storable_username(username), address_key(client_ip)
    await db.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - policy.window))
    attempt_id = (
        await db.execute(
            insert(LoginFailure)
            .values(username=user, client_ip=address, failed_at=now)
            .returning(LoginFailure.id)
        )
    ).scalar_one()
    await db.commit()
    try:
        await _check(db, policy, user, address, attempt_id, now)
    except LoginThrottledError:
        await db.execute(delete(LoginFailure).where(LoginFailure.id == attempt_id))
        await db.commit()
        raise
    await db.commit()


async def _check(
    db: AsyncSession,
    policy: ThrottlePolicy,
    user: str,
    address: str,
    attempt_id: int,
    now: datetime,
) -> None:
    earlier = (LoginFailure.id != attempt_id, LoginFailure.failed_at > now - policy.window)
    count, last = (
        await db.execute(
            select(func.count(), func.max(LoginFailure.failed_at)).where(
                LoginFailure.username == user, LoginFailure.client_ip == address, *earlier
            )
        )
    ).one()
    if count >= policy.max_failures_per_user and last is not None:
        doublings = min(count - policy.max_failures_per_user, MAX_DOUBLINGS)
        delay = min(FIRST_DELAY * 2**doublings, policy.window)
        _refuse_until(as_utc(last) + delay, now)
    count, oldest = (
        await db.execute(
            select(func.count(), func.min(LoginFailure.failed_at)).where(
                LoginFailure.client_ip == address, *earlier
            )
        )
    ).one()
    if count >= policy.max_failures_per_address and oldest is not None:
        _refuse_until(as_utc(oldest) + policy.window, now)


def _refuse_until(until: datetime, now: datetime) -> None:
    if until > now:
        raise LoginThrottledError(max(1, math.ceil((until - now).total_seconds())))


async def clear(db: AsyncSession, username: str, client_ip: str | None) -> None:
    """A successful login forgets that pair's failures, its own attempt included."""
    await db.execute(
        delete(LoginFailure).where(
            LoginFailure.username == storable_username(username),
            LoginFailure.client_ip == address_key(client_ip),
        )
    )
