"""Self-service on one's own account, and administrators ending a user's sessions.

Sessions end only through `sessions.session_store` (one way to end a session,
whatever asks for it), in the same transaction as the audit event.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.accounts import reset
from notes_api.accounts.models import PasswordResetToken
from notes_api.actor import Actor
from notes_api.audit.service import AuditAction, record
from notes_api.auth.passwords import hash_password, in_hashing_thread, verify_password
from notes_api.clock import utcnow
from notes_api.exceptions import DomainError, NotFoundError
from notes_api.policies import ThrottlePolicy
from notes_api.sessions.session_model import LoginSession
from notes_api.sessions.session_store import (
    EndCause,
    end_session,
    end_user_sessions,
    live_sessions,
)
from notes_api.throttling import throttle
from notes_api.users.models import User
from notes_api.users.service import get_user


class InvalidResetTokenError(DomainError):
    def __init__(self) -> None:
        super().__init__("The reset link is invalid, used or expired; ask for a new one")


class WrongPasswordError(DomainError):
    def __init__(self) -> None:
        super().__init__("The current password is wrong")


async def change_password(
    db: AsyncSession,
    actor: Actor,
    *,
    user_id: int,
    current_sid: str | None,
    current_password: str,
    new_password: str,
    throttle_policy: ThrottlePolicy,
) -> int:
    """Check the current password like a login does (throttled, counted when wrong), set
    the new one and end every other session of the user. Returns how many ended.

    No transaction is open while a password is hashed or verified.
    """
    user = await get_user(db, user_id)
    attempt = await throttle.reserve_attempt(
        db, throttle_policy, user.username, actor.client_ip
    )  # commits; raises LoginThrottledError past the limit
    valid, _ = await in_hashing_thread(verify_password, current_password, user.hashed_password)
    if not valid:
        await throttle.settle_failure(db, attempt)
        record(db, AuditAction.PASSWORD_CHANGE_FAILED, actor, target=user.username)
        await db.commit()
        raise WrongPasswordError
    new_hash = await in_hashing_thread(hash_password, new_password)
    await throttle.clear(db, user.username, actor.client_ip, attempt)
    ended = await end_user_sessions(db, user.id, EndCause.PASSWORD_CHANGED, except_sid=current_sid)
    db.add(user)
    user.hashed_password = new_hash
    await reset.void_tokens(db, user.id, utcnow())  # a reset link mailed before is void too
    record(db, AuditAction.PASSWORD_CHANGED, actor, target=user.username, sessions_ended=len(ended))
    await db.commit()
    return len(ended)


async def set_password(db: AsyncSession, actor: Actor, user_id: int, new_password: str) -> int:
    """Set a password without the old one (the command line): every session of the user
    ends, as after a reset. Returns how many ended."""
    new_hash = await in_hashing_thread(hash_password, new_password)
    user = await get_user(db, user_id)
    ended = await end_user_sessions(db, user.id, EndCause.PASSWORD_CHANGED)
    user.hashed_password = new_hash
    await reset.void_tokens(db, user.id, utcnow())
    record(db, AuditAction.PASSWORD_CHANGED, actor, target=user.username, sessions_ended=len(ended))
    await db.commit()
    return len(ended)


async def sessions_of(db: AsyncSession, user_id: int) -> list[LoginSession]:
    sessions = await live_sessions(db, user_id)
    await db.commit()
    return sessions


async def end_own_session(db: AsyncSession, actor: Actor, user_id: int, sid: str) -> None:
    """End one of the caller's sessions; anyone else's (or an ended one) is a 404."""
    user = await get_user(db, user_id)
    if not await end_session(db, sid, EndCause.USER, user_id=user_id):
        await db.rollback()
        raise NotFoundError("No such session")
    record(db, AuditAction.SESSION_ENDED, actor, target=user.username, session=sid)
    await db.commit()


async def end_sessions(
    db: AsyncSession, actor: Actor, user_id: int, cause: EndCause, *, except_sid: str | None = None
) -> int:
    """End every session of a user (but `except_sid`); audited with how many ended."""
    user = await get_user(db, user_id)
    ended = await end_user_sessions(db, user_id, cause, except_sid=except_sid)
    record(
        db,
        AuditAction.SESSIONS_ENDED,
        actor,
        target=user.username,
        cause=cause.value,
        sessions_ended=len(ended),
    )
    await db.commit()
    return len(ended)


async def reset_password(
    db: AsyncSession, *, token: str, new_password: str, client_ip: str | None
) -> None:
    """Spend the token, set the password, end every session of the user: one transaction.

    An unknown, used, voided, expired or malformed token raises
    `InvalidResetTokenError` and changes nothing. The new password is hashed
    outside any transaction, after a first look at the token (so a bad link
    costs no hash) and before the token is spent with a conditional UPDATE (so
    two requests racing with one token cannot both reset).
    """
    if not reset.TOKEN_SHAPE.fullmatch(token):  # stops by the 44th character: no query, no hash
        raise InvalidResetTokenError
    digest = reset.hash_reset_token(token)
    known = await db.scalar(select(PasswordResetToken.id).where(*reset.usable(digest, utcnow())))
    await db.rollback()
    if known is None:
        raise InvalidResetTokenError
    new_hash = await in_hashing_thread(hash_password, new_password)
    now = utcnow()
    user_id = await db.scalar(
        update(PasswordResetToken)
        .where(*reset.usable(digest, now))
        .values(used_at=now)
        .returning(PasswordResetToken.user_id)
    )
    user = None if user_id is None else await db.get(User, user_id)
    if user is None or user.disabled:
        await db.rollback()
        raise InvalidResetTokenError
    ended = await end_user_sessions(db, user.id, EndCause.PASSWORD_RESET)
    user.hashed_password = new_hash
    await reset.void_tokens(db, user.id, now)
    record(
        db,
        AuditAction.PASSWORD_RESET,
        Actor(id=user.id, client_ip=client_ip),
        target=user.username,
        sessions_ended=len(ended),
    )
    await db.commit()
