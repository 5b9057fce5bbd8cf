"""Brute-force protection for `POST /token` (OWASP ASVS V2.2.1, API2).

Failed logins are counted per (username, client address), with a delay that
doubles with each failure past the limit, and per client address, with a much
higher ceiling (an office behind one NAT address must not lock itself out). An
attacker hammering one account from one address therefore never locks the
owner out from another address, nor other accounts from the same address
below the ceiling. IPv6 clients are counted per /64, the block one subscriber
usually holds. A throttled attempt is refused before any password hash.

Every attempt is first recorded as pending, under a per-pair lock that makes
the count exact: a burst of concurrent guesses cannot slip more attempts past
the limit than it allows. A failed attempt then counts as a failure; a
successful one clears its pair's failures.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime, timedelta
from ipaddress import IPv6Address, ip_address, ip_network

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.clock import as_utc, utcnow
from notes_api.sessions.exceptions import LoginThrottledError
from notes_api.sessions.models import LoginAttempt
from notes_api.sessions.policies import ThrottlePolicy
from notes_api.validation import storable_username

FIRST_DELAY = timedelta(seconds=30)
SETTLE_WAIT = timedelta(seconds=2)
"""How long an attempt waits for the pair's in-flight attempts before it is refused."""
SETTLE_POLL = timedelta(milliseconds=25)
ABANDONED_AFTER = timedelta(seconds=60)
"""A pending attempt this old belongs to a process that died mid-login."""
MAX_DOUBLINGS = 16
"""30 s x 2^16 is far past any window: the delay is capped by the window long before."""


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
) -> int:
    """Record this attempt as pending and return its id, or raise `LoginThrottledError`.

    The count and the insert happen under a lock on the (username, address) pair
    (a PostgreSQL advisory lock; SQLite transactions are serialized anyway), so
    concurrent attempts see each other exactly: of a burst of guesses, no more go
    on to a password check than the limit allows. Attempts of the same pair beyond
    the limit that are merely concurrent (a script logging in several times at
    once) wait briefly for the earlier ones to settle instead of being refused.
    Commits: no transaction stays open while the caller hashes the password.
    """
    user, address = storable_username(username), address_key(client_ip)
    deadline = time.monotonic() + SETTLE_WAIT.total_seconds()
    while True:
        await _lock_pair(db, user, address)
        now = utcnow()
        await db.execute(delete(LoginAttempt).where(LoginAttempt.failed_at <= now - policy.window))
        if await _may_start(db, policy, user, address, now):
            attempt_id: int = (
                await db.execute(
                    insert(LoginAttempt)
                    .values(username=user, client_ip=address, failed_at=now, pending=True)
                    .returning(LoginAttempt.id)
                )
            ).scalar_one()
            await db.commit()
            return attempt_id
        await db.commit()
        if time.monotonic() > deadline:
            raise LoginThrottledError(1)
        await asyncio.sleep(SETTLE_POLL.total_seconds())


async def _lock_pair(db: AsyncSession, user: str, address: str) -> None:
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"login:{user}|{address}"}
        )


async def _may_start(
    db: AsyncSession, policy: ThrottlePolicy, user: str, address: str, now: datetime
) -> bool:
    """Raise if failures call for a wait; otherwise whether one more attempt may be in flight.

    While failures are under the limit, as many attempts may run at once as failures
    are left; past it (its delay served), one at a time. Pending attempts older than
    `ABANDONED_AFTER` belong to a process that died mid-login and do not count.
    """
    recent = LoginAttempt.failed_at > now - policy.window
    failed = LoginAttempt.pending.is_(False)
    in_flight = LoginAttempt.pending.is_(True) & (LoginAttempt.failed_at > now - ABANDONED_AFTER)
    pair = (LoginAttempt.username == user, LoginAttempt.client_ip == address, recent)
    failures, last, pending = (
        await db.execute(
            select(
                func.count().filter(failed),
                func.max(LoginAttempt.failed_at).filter(failed),
                func.count().filter(in_flight),
            ).where(*pair)
        )
    ).one()
    if failures >= policy.max_failures_per_user and last is not None:
        doublings = min(failures - policy.max_failures_per_user, MAX_DOUBLINGS)
        delay = min(FIRST_DELAY * 2**doublings, policy.window)
        _refuse_until(as_utc(last) + delay, now)
    address_failures, oldest = (
        await db.execute(
            select(func.count(), func.min(LoginAttempt.failed_at)).where(
                LoginAttempt.client_ip == address, recent, failed
            )
        )
    ).one()
    if address_failures >= policy.max_failures_per_address and oldest is not None:
        _refuse_until(as_utc(oldest) + policy.window, now)
    return int(pending) < max(policy.max_failures_per_user - int(failures), 1)


def _refuse_until(until: datetime, now: datetime) -> None:
    if until > now:
        raise LoginThrottledError(max(1, math.ceil((until - now).total_seconds())))


async def settle_failure(db: AsyncSession, attempt_id: int) -> None:
    """The attempt failed: it now counts as a failure, from now."""
    await db.execute(
        update(LoginAttempt)
        .where(LoginAttempt.id == attempt_id)
        .values(pending=False, failed_at=utcnow())
    )


async def clear(db: AsyncSession, username: str, client_ip: str | None, attempt_id: int) -> None:
    """A successful login forgets its pair's failures and its own attempt; attempts of
    the pair still in flight keep their records."""
    await db.execute(
        delete(LoginAttempt).where(
            (LoginAttempt.id == attempt_id)
            | (
                (LoginAttempt.username == storable_username(username))
                & (LoginAttempt.client_ip == address_key(client_ip))
                & LoginAttempt.pending.is_(False)
            )
        )
    )


async def discard(db: AsyncSession, attempt_id: int) -> None:
    """The attempt was neither a failure nor a completed login (a password that is right
    but needs a second factor, an expired challenge): forget it without clearing the
    pair's failures, so wrong second-factor codes keep counting."""
    await db.execute(delete(LoginAttempt).where(LoginAttempt.id == attempt_id))
