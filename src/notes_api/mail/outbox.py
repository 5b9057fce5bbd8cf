"""Queueing mails in the database, and claiming them so no two senders send one twice.

`enqueue` adds a row to the caller's session: it commits with the change that
wants the mail, or not at all. A sender claims due rows in a short transaction
(on PostgreSQL `FOR UPDATE SKIP LOCKED`, so concurrent senders in other
workers and instances each take different rows without waiting; SQLite runs
one writer at a time anyway), marking them with a claim id and a lease. It
sends outside any transaction, then records the outcome, only if its claim
still holds. A sender that dies mid-send leaves its claim to expire: the mail
is then sent by another (at least once; a crash between the SMTP server's
acceptance and the commit is the one case that sends twice).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.clock import utcnow
from notes_api.mail.models import OutboxMail

LEASE = timedelta(minutes=5)
"""How long a claim lasts: far longer than one SMTP exchange (its timeouts are 30 s)."""
FIRST_RETRY = timedelta(seconds=1)
LONGEST_RETRY = timedelta(minutes=5)
"""While the SMTP server is down a mail is retried 1 s, 2 s, 4 s ... then every 5 minutes."""


@dataclass(frozen=True)
class ClaimedMail:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    claim: str


def enqueue(db: AsyncSession, kind: str, payload: dict[str, Any]) -> None:
    """Queue a mail in the caller's transaction. The payload holds no secret."""
    db.add(OutboxMail(kind=kind, payload=payload, next_attempt_at=utcnow()))


async def claim_due(db: AsyncSession, limit: int) -> list[ClaimedMail]:
    """Claim up to `limit` due mails for this sender, and commit."""
    now = utcnow()
    due = (
        select(OutboxMail.id)
        .where(
            OutboxMail.sent_at.is_(None),
            OutboxMail.discarded_at.is_(None),
            OutboxMail.next_attempt_at <= now,
            or_(OutboxMail.claimed_until.is_(None), OutboxMail.claimed_until < now),
        )
        .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(await db.scalars(due))
    if not ids:
        await db.commit()
        return []
    claim = secrets.token_hex(16)
    rows = await db.execute(
        update(OutboxMail)
        .where(OutboxMail.id.in_(ids))
        .values(claim=claim, claimed_until=now + LEASE, attempts=OutboxMail.attempts + 1)
        .returning(OutboxMail.id, OutboxMail.kind, OutboxMail.payload, OutboxMail.attempts)
    )
    claimed = [
        ClaimedMail(id, kind, payload, attempts, claim) for id, kind, payload, attempts in rows
    ]
    await db.commit()
    return sorted(claimed, key=lambda mail: mail.id)


async def finish(db: AsyncSession, mail: ClaimedMail, *, sent: bool, outcome: str) -> bool:
    """Mark a claimed mail sent or discarded (not committed). False if the claim was lost."""
    now = utcnow()
    done = {"sent_at": now} if sent else {"discarded_at": now}
    result = await db.execute(
        update(OutboxMail)
        .where(OutboxMail.id == mail.id, OutboxMail.claim == mail.claim)
        .values(claim=None, claimed_until=None, outcome=outcome, **done)
        .returning(OutboxMail.id)
    )
    return result.first() is not None


def retry_delay(attempts: int) -> timedelta:
    doublings: int = min(max(attempts - 1, 0), 20)
    delay: timedelta = FIRST_RETRY * (1 << doublings)
    return min(delay, LONGEST_RETRY)


async def postpone(
    db: AsyncSession, mail: ClaimedMail, error: str, now: datetime | None = None
) -> None:
    """The attempt failed: release the claim and try again later. Commits."""
    now = now or utcnow()
    await db.execute(
        update(OutboxMail)
        .where(OutboxMail.id == mail.id, OutboxMail.claim == mail.claim)
        .values(
            claim=None,
            claimed_until=None,
            next_attempt_at=now + retry_delay(mail.attempts),
            last_error=error[:200],
        )
    )
    await db.commit()


async def release(db: AsyncSession, mail: ClaimedMail) -> None:
    """Give a claimed mail back unsent (shutting down), its attempt not counted. Commits."""
    await db.execute(
        update(OutboxMail)
        .where(OutboxMail.id == mail.id, OutboxMail.claim == mail.claim)
        .values(claim=None, claimed_until=None, attempts=OutboxMail.attempts - 1)
    )
    await db.commit()
