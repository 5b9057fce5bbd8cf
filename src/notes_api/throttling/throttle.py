"""Brute-force protection for `POST /token` (OWASP ASVS V2.2.1, API2).

Failed logins are counted per (username, client address), with a delay that
doubles with each failure past the limit, and per client address, with a much
higher ceiling (an office behind one NAT address must not lock itself out). An
attacker hammering one account from one address therefore never locks the
owner out from another address, nor other accounts from the same address
below the ceiling. IPv6 clients are counted per /64, the block one subscriber
usually holds. A throttled attempt is refused before any password hash.

Every attempt is first recorded as pending, under a lock on its address that
makes every count exact: a burst of concurrent guesses cannot slip more
attempts past either limit than it allows, because attempts still in flight
count against both. No more than `max_in_flight_per_address` attempts of one
address are checked at once; beyond that, and beyond the ceiling, the answer
is an immediate 429, so a burst costs its sender and not the hashing queue
everyone shares. A failed attempt then counts as a failure; a successful one
clears its pair's failures; one that could not be checked is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TypeVar

import anyio
from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api import keyed_locks
from notes_api.auth.passwords import HashingBusyError
from notes_api.clock import as_utc, utcnow
from notes_api.database import execute_core
from notes_api.ip_addresses import address_bucket
from notes_api.policies import ThrottlePolicy
from notes_api.throttling.exceptions import AttemptSettledError, LoginThrottledError
from notes_api.throttling.models import LoginAttempt
from notes_api.validation import storable_username

T = TypeVar("T")

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
    return address_bucket(client_ip)


async def reserve_attempt(
    db: AsyncSession, policy: ThrottlePolicy, username: str, client_ip: str | None
) -> int:
    """`reserve_attempt_reading` with nothing to read."""
    attempt_id, _ = await reserve_attempt_reading(db, policy, username, client_ip, _read_nothing)
    return attempt_id


async def _read_nothing(_db: AsyncSession) -> None:
    return None


async def reserve_attempt_reading(
    db: AsyncSession,
    policy: ThrottlePolicy,
    username: str,
    client_ip: str | None,
    read: Callable[[AsyncSession], Awaitable[T]],
) -> tuple[int, T]:
    """Record this attempt as pending and return its id, with what `read` returned,
    or raise `LoginThrottledError`.

    The counts and the insert happen under a lock on the address (a PostgreSQL
    advisory lock; SQLite transactions are serialized anyway), so concurrent
    attempts see each other exactly: of a burst of guesses, for one username or
    for many, no more go on to a password check than the limits allow. Attempts of
    the same pair beyond the limit that are merely concurrent (a script logging in
    several times at once) wait briefly for the earlier ones to settle instead of
    being refused. Attempts of one address queue for the lock in this process first
    (`keyed_locks`), holding no pooled connection while they wait.
    `read` runs in the same transaction once the attempt is recorded (the caller's
    lookups, e.g. the user to check the password against), so that they cost no
    transaction of their own; it runs only for an attempt that goes on.
    Commits: no transaction stays open while the caller hashes the password.
    """
    user, address = storable_username(username), address_key(client_ip)
    deadline = time.monotonic() + SETTLE_WAIT.total_seconds()
    while True:
        async with keyed_locks.held(f"login:{address}"):
            await _lock_address(db, address)
            now = utcnow()
            try:
                may_start = await _may_start(db, policy, user, address, now)
            except LoginThrottledError:
                await db.rollback()  # let the next attempt of the address have the lock now
                raise
            if may_start:
                attempt_id: int = (
                    await execute_core(
                        db, _NEW_ATTEMPT, {"user": user, "address": address, "now": now}
                    )
                ).scalar_one()
                result = await read(db)
                await db.commit()
                return attempt_id, result
            await db.commit()
        if time.monotonic() > deadline:
            raise LoginThrottledError(1)
        await asyncio.sleep(SETTLE_POLL.total_seconds())


async def _lock_address(db: AsyncSession, address: str) -> None:
    """One lock per address, not per (username, address): the address ceiling and the
    in-flight cap count attempts for every username, and must see all of them."""
    if db.get_bind().dialect.name == "postgresql":
        await execute_core(db, _ADDRESS_LOCK, {"key": f"login:{address}"})


# Built once: every login runs these, and building one (with its cache key) cost up to a
# fifth of a millisecond of the event loop each time. Module-level code is outside mutmut's
# reach: the tests that killed the mutants of these clauses (docs/testing.md) still run.
_ADDRESS_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:key))")
_RECENT = LoginAttempt.failed_at > bindparam("window_start")
_FAILED = LoginAttempt.pending.is_(False)
_IN_FLIGHT = LoginAttempt.pending.is_(True) & (
    LoginAttempt.failed_at > bindparam("abandoned_before")
)
_PAIR = LoginAttempt.username == bindparam("user")
_ATTEMPT_COUNTS = select(
    func.count().filter(_FAILED & _PAIR),
    func.max(LoginAttempt.failed_at).filter(_FAILED & _PAIR),
    func.count().filter(_IN_FLIGHT & _PAIR),
    func.count().filter(_FAILED),
    func.min(LoginAttempt.failed_at).filter(_FAILED),
    func.count().filter(_IN_FLIGHT),
).where(LoginAttempt.client_ip == bindparam("address"), _RECENT)
"""One statement: the address's recent attempts (ix_login_attempts_client_ip), the pair's
among them."""
_EXPIRED_ATTEMPTS = delete(LoginAttempt).where(LoginAttempt.failed_at <= bindparam("window_start"))
_EXPIRED_DELETED_AND_ATTEMPT_COUNTS = _ATTEMPT_COUNTS.add_cte(_EXPIRED_ATTEMPTS.cte("expired"))
"""PostgreSQL: the expired attempts deleted by the counts' statement, one round trip fewer.
The counts see the rows as they were when the statement started, and count none of the
deleted ones anyway: those are outside the window."""
_NEW_ATTEMPT = (
    insert(LoginAttempt)
    .values(
        username=bindparam("user"),
        client_ip=bindparam("address"),
        failed_at=bindparam("now"),
        pending=True,
    )
    .returning(LoginAttempt.id)
)
_CLEARED_ATTEMPTS = delete(LoginAttempt).where(
    (LoginAttempt.id == bindparam("attempt_id"))
    | (
        (LoginAttempt.username == bindparam("user"))
        & (LoginAttempt.client_ip == bindparam("address"))
        & LoginAttempt.pending.is_(False)
    )
)


async def _may_start(
    db: AsyncSession, policy: ThrottlePolicy, user: str, address: str, now: datetime
) -> bool:
    """Raise if failures or attempts in flight call for a refusal; otherwise whether one
    more attempt of this pair may be in flight now. Deletes the attempts the window has left
    behind first (in the same statement on PostgreSQL).

    While a pair's failures are under the limit, as many of its attempts may run at
    once as failures are left; past it (its delay served), one at a time. An address's
    attempts in flight count against its ceiling as if they had failed, and no more
    than `max_in_flight_per_address` run at once. Pending attempts older than
    `ABANDONED_AFTER` belong to a process that died mid-login and do not count.
    """
    if db.get_bind().dialect.name == "postgresql":
        counts = _EXPIRED_DELETED_AND_ATTEMPT_COUNTS
    else:
        await execute_core(db, _EXPIRED_ATTEMPTS, {"window_start": now - policy.window})
        counts = _ATTEMPT_COUNTS
    failures, last, pending, address_failures, oldest, address_pending = (
        await execute_core(
            db,
            counts,
            {
                "user": user,
                "address": address,
                "window_start": now - policy.window,
                "abandoned_before": now - ABANDONED_AFTER,
            },
        )
    ).one()
    if failures >= policy.max_failures_per_user and last is not None:
        doublings = min(failures - policy.max_failures_per_user, MAX_DOUBLINGS)
        delay = min(FIRST_DELAY * 2**doublings, policy.window)
        _refuse_until(as_utc(last) + delay, now)
    if address_failures >= policy.max_failures_per_address and oldest is not None:
        _refuse_until(as_utc(oldest) + policy.window, now)
    if (
        address_failures + address_pending >= policy.max_failures_per_address
        or address_pending >= policy.max_in_flight_per_address
    ):
        raise LoginThrottledError(1)  # attempts in flight settle within a second or so
    return int(pending) < max(policy.max_failures_per_user - int(failures), 1)


def _refuse_until(until: datetime, now: datetime) -> None:
    if until > now:
        raise LoginThrottledError(max(1, math.ceil((until - now).total_seconds())))


async def settle_failure(db: AsyncSession, attempt_id: int) -> None:
    """The attempt failed: it now counts as a failure, from now."""
    await execute_core(
        db,
        update(LoginAttempt)
        .where(LoginAttempt.id == attempt_id)
        .values(pending=False, failed_at=utcnow()),
    )


async def _settled(db: AsyncSession, attempt_id: int) -> AsyncIterator[None]:
    """Leave no attempt pending, whatever happens between its reservation and its verdict.

    A refused or successful login settles its attempt itself. Out of hashing capacity,
    the attempt is released; on anything else (a database error, a cancelled request)
    it is counted as a failure, shielded from cancellation, before the error goes on.
    """
    try:
        yield
    except AttemptSettledError:
        raise
    except HashingBusyError:
        with anyio.CancelScope(shield=True):
            await release(db, attempt_id)
        raise
    except BaseException:
        # If the database is what failed, this fails too: the attempt then stops
        # counting after ABANDONED_AFTER, and the original error is the one to answer.
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await abandon(db, attempt_id)
        raise


settled = asynccontextmanager(_settled)
"""Wrapped rather than decorated: mutmut (`make mutate`) skips decorated functions."""


async def release(db: AsyncSession, attempt_id: int) -> None:
    """The attempt was never checked (no hashing capacity): it counts for nothing. Commits."""
    await db.rollback()
    await execute_core(db, delete(LoginAttempt).where(LoginAttempt.id == attempt_id))
    await db.commit()


async def abandon(db: AsyncSession, attempt_id: int) -> None:
    """The login broke off between reservation and verdict (a database error, a
    cancelled request): the attempt counts as a failure rather than staying pending,
    so that breaking a login off on purpose gains a guesser nothing. Commits."""
    await db.rollback()
    await settle_failure(db, attempt_id)
    await db.commit()


async def clear(db: AsyncSession, username: str, client_ip: str | None, attempt_id: int) -> None:
    """A successful login forgets its pair's failures and its own attempt; attempts of
    the pair still in flight keep their records."""
    await execute_core(
        db,
        _CLEARED_ATTEMPTS,
        {
            "attempt_id": attempt_id,
            "user": storable_username(username),
            "address": address_key(client_ip),
        },
    )


async def discard(db: AsyncSession, attempt_id: int) -> None:
    """The attempt was neither a failure nor a completed login (a password that is right
    but needs a second factor, an expired challenge): forget it without clearing the
    pair's failures, so wrong second-factor codes keep counting."""
    await execute_core(db, delete(LoginAttempt).where(LoginAttempt.id == attempt_id))
