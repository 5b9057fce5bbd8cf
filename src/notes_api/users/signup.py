"""Self-service sign-up: throttled per address, and silent about which accounts exist.

Every well-formed sign-up answers the same, whether it created an account or
found the username or email taken: an answer that named what is taken would
let anyone test a list of emails (or, with a fresh email, usernames) for
accounts. Both paths cost one password hash (`create_user` hashes before it
looks), so timing tells no more than the answer. A person whose name was
taken learns it by logging in, which takes the password they chose: an
enumerator learns it only by creating each free account it probes, one
audited account per request, within the throttle.

Sign-ups are counted per address (IPv4 address, IPv6 /64) in the database,
under a per-address lock so that a burst of concurrent requests cannot slip
past the count; past it, 429 with `Retry-After` before any hashing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api import keyed_locks
from notes_api.actor import Actor
from notes_api.audit.service import AuditAction, record
from notes_api.clock import as_utc, utcnow
from notes_api.config import Settings
from notes_api.exceptions import ConflictError
from notes_api.ip_addresses import address_bucket
from notes_api.users.service import create_user
from notes_api.users.signup_attempts import SignupAttempt
from notes_api.validation import storable_username


@dataclass(frozen=True)
class SignupPolicy:
    max_per_address: int
    window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> SignupPolicy:
        return cls(
            max_per_address=settings.signup_max_per_address,
            window=timedelta(minutes=settings.signup_window_minutes),
        )


class SignupThrottledError(Exception):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


async def sign_up(
    db: AsyncSession,
    actor: Actor,
    policy: SignupPolicy,
    *,
    username: str,
    password: str,
    email: str | None,
) -> None:
    """Create the account if username and email are free; either way return the same.

    Raises `SignupThrottledError` before hashing when the address is past its count.
    """
    await _count_signup(db, policy, actor.client_ip)
    try:
        await create_user(db, actor, username=username, password=password, email=email)
    except ConflictError:
        # For the administrators' eyes only: repeated refusals from one address are
        # someone probing for accounts.
        record(db, AuditAction.SIGNUP_REFUSED, actor, target=storable_username(username))
        await db.commit()


async def _count_signup(db: AsyncSession, policy: SignupPolicy, client_ip: str | None) -> None:
    """Count this sign-up against its address, or raise; commits."""
    bucket = address_bucket(client_ip)
    async with keyed_locks.held(f"signup:{bucket}"):
        await _count_locked(db, policy, bucket)


async def _count_locked(db: AsyncSession, policy: SignupPolicy, bucket: str) -> None:
    if db.get_bind().dialect.name == "postgresql":  # SQLite transactions are serialized
        await db.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"signup:{bucket}"}
        )
    now = utcnow()
    await db.execute(delete(SignupAttempt).where(SignupAttempt.attempted_at <= now - policy.window))
    count, oldest = (
        await db.execute(
            select(func.count(), func.min(SignupAttempt.attempted_at)).where(
                SignupAttempt.client_ip == bucket
            )
        )
    ).one()
    if count >= policy.max_per_address and oldest is not None:
        await db.rollback()
        wait = (as_utc(oldest) + policy.window - now).total_seconds()
        raise SignupThrottledError(max(1, math.ceil(wait)))
    db.add(SignupAttempt(client_ip=bucket, attempted_at=now))
    await db.commit()
