"""Starting, claiming and ending sessions: the functions every other feature calls.

Locks are always taken in one order, user row, then session row, then refresh
token rows, so that no two of these transactions can deadlock on PostgreSQL:

- issuing a session (login) reads the user row `FOR SHARE` and re-checks the
  password hash and `disabled` it verified, so a password change or a disable
  that commits meanwhile makes the login fail instead of leaving it a session;
- `end_user_sessions` locks the user row (`FOR NO KEY UPDATE`) before ending
  the sessions, so a login in flight either committed before (and its session
  is ended here) or waits and then sees the new hash;
- rotation reads the user row `FOR SHARE`, then claims its session row with a
  conditional UPDATE (`WHERE ended_at IS NULL`) before it writes the next
  refresh token, so an end of the session either waits for the rotation (and
  then ends the session the new token belongs to) or wins (and the rotation
  finds no live session).

A refresh token is usable only while its session is live, so ending a session
is one UPDATE of one row, whatever the length of its family.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api import metrics
from notes_api.clock import utcnow
from notes_api.database import execute_core
from notes_api.sessions.session_model import CLIENT_IP_LENGTH, USER_AGENT_LENGTH, LoginSession
from notes_api.users.models import User


class EndCause(StrEnum):
    """Why a session ended: stored in `sessions.end_cause` and counted in metrics."""

    LOGOUT = "logout"
    REUSE = "refresh_reuse"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a cause, not a password
    PASSWORD_RESET = "password_reset"  # noqa: S105
    DISABLED = "user_disabled"
    ADMIN = "ended_by_admin"
    USER = "ended_by_user"
    EXPIRED = "expired"
    REVOKED = "revoked"
    """Revoked before sessions existed (set by the migration that created them)."""


@dataclass(frozen=True)
class ClientInfo:
    """Where a login came from, as shown in the session list (capped to the columns)."""

    client_ip: str | None = None
    user_agent: str | None = None

    def capped(self) -> ClientInfo:
        ip = self.client_ip[:CLIENT_IP_LENGTH] if self.client_ip else None
        agent = self.user_agent[:USER_AGENT_LENGTH] if self.user_agent else None
        return ClientInfo(client_ip=ip, user_agent=agent)


@dataclass(frozen=True)
class LiveSession:
    """What a rotation learns from the session row it claimed."""

    id: int
    sid: str
    amr: list[str]
    expires_at: datetime


def join_amr(methods: Sequence[str]) -> str:
    return ",".join(methods)


def split_amr(amr: str) -> list[str]:
    return [method for method in amr.split(",") if method]


async def lock_user(
    db: AsyncSession, user_id: int, *, for_update: bool = False
) -> Row[str, bool] | None:
    """The user's password hash and `disabled` flag, the row locked until commit: a
    concurrent password change, disable or role revocation waits for this transaction,
    or this read waits for it and sees its result (PostgreSQL; SQLite serializes writers).

    `FOR SHARE` for a rotation; `for_update` (`FOR NO KEY UPDATE`) for a login, which may
    write an upgraded password hash: two logins sharing the row and both upgrading it
    would deadlock.
    """
    query = _LOCK_USER_FOR_UPDATE if for_update else _LOCK_USER_FOR_SHARE
    return (await execute_core(db, query, {"user_id": user_id})).first()


_USER_CHECK = select(User.hashed_password, User.disabled).where(User.id == bindparam("user_id"))
_LOCK_USER_FOR_UPDATE = _USER_CHECK.with_for_update(key_share=True)
_LOCK_USER_FOR_SHARE = _USER_CHECK.with_for_update(read=True)
"""Built once: every login and refresh locks the user."""


async def claim_session(db: AsyncSession, session_pk: int, now: datetime) -> LiveSession | None:
    """Mark a live, unexpired session used and hold its row until commit; None if it ended."""
    row = (
        await db.execute(
            update(LoginSession)
            .where(
                LoginSession.id == session_pk,
                LoginSession.ended_at.is_(None),
                LoginSession.expires_at > now,
            )
            .values(last_used_at=now)
            .returning(LoginSession.sid, LoginSession.amr, LoginSession.expires_at)
        )
    ).first()
    if row is None:
        return None
    sid, amr, expires_at = row
    return LiveSession(id=session_pk, sid=sid, amr=split_amr(amr), expires_at=expires_at)


async def _end(db: AsyncSession, cause: EndCause, *conditions: ColumnElement[bool]) -> list[str]:
    # The transaction begins first (on SQLite: BEGIN IMMEDIATE, the write lock), and the
    # clock is read after: the SQLite revocation feed reads back only a little before its
    # last poll, which is safe only if a time is recorded while its writer holds the lock.
    await db.connection()
    now = utcnow()
    ended = await db.scalars(
        update(LoginSession)
        .where(LoginSession.ended_at.is_(None), *conditions)
        .values(ended_at=now, end_cause=cause.value)
        .returning(LoginSession.sid)
    )
    sids = list(ended)
    # Counted here, where every way of ending a session passes; a caller that then rolls
    # back (rare: a failure between this and its commit) leaves the count one step ahead.
    metrics.record_session_ended(cause.value, len(sids))
    return sids


async def end_session(
    db: AsyncSession, sid: str, cause: EndCause, *, user_id: int | None = None
) -> bool:
    """End one session by its public id (only the user's own when `user_id` is given).
    True if this call ended it; False if it was unknown, someone else's or over already.
    Not committed: the caller commits with the rest of its unit of work."""
    conditions = [LoginSession.sid == sid]
    if user_id is not None:
        conditions.append(LoginSession.user_id == user_id)
    return bool(await _end(db, cause, *conditions))


async def end_session_by_pk(db: AsyncSession, session_pk: int, cause: EndCause) -> bool:
    """End a session found through one of its refresh tokens; True if this call ended it."""
    return bool(await _end(db, cause, LoginSession.id == session_pk))


async def end_user_sessions(
    db: AsyncSession, user_id: int, cause: EndCause, *, except_sid: str | None = None
) -> list[str]:
    """End every live session of a user (but `except_sid`), and return their sids.

    Locks the user row first: a login that verified the old password either
    committed its session before (ended here) or waits and fails its re-check.
    Not committed: the caller commits with the change that caused it.
    """
    await db.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))
    conditions = [LoginSession.user_id == user_id]
    if except_sid is not None:
        conditions.append(LoginSession.sid != except_sid)
    return await _end(db, cause, *conditions)


async def live_sessions(db: AsyncSession, user_id: int) -> list[LoginSession]:
    """The user's sessions that have neither ended nor expired, newest first."""
    query = (
        select(LoginSession)
        .where(
            LoginSession.user_id == user_id,
            LoginSession.ended_at.is_(None),
            LoginSession.expires_at > utcnow(),
        )
        .order_by(LoginSession.created_at.desc(), LoginSession.id.desc())
    )
    return list(await db.scalars(query))
