"""Login, refresh-token rotation and revocation: the token endpoint's use cases.

A login opens a session (`notes_api.sessions.session_store`); its refresh
tokens rotate on every use and are usable only while the session is live.
Spending a token is one conditional UPDATE (`... WHERE used_at IS NULL ...
RETURNING`), so when several requests present the same token at once the
database lets exactly one of them through. Anyone presenting a token that was
already rotated is treated as a thief (RFC 9700 section 4.14.2): the session
ends, and with it every token of the family.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import NoReturn

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api import metrics
from notes_api.actor import Actor
from notes_api.audit.service import AuditAction, event_parameters, record
from notes_api.auth.passwords import burn_verification, in_hashing_thread, verify_password
from notes_api.auth.tokens import (
    AccessTokenCodec,
    hash_refresh_token,
)
from notes_api.clock import utcnow
from notes_api.database import execute_core
from notes_api.mfa import service as mfa_service
from notes_api.policies import RefreshPolicy, ThrottlePolicy
from notes_api.sessions import second_factor
from notes_api.sessions.exceptions import InvalidGrantError
from notes_api.sessions.issuing import TokenPair, issue_first_tokens, issue_tokens
from notes_api.sessions.models import RefreshToken
from notes_api.sessions.session_store import (
    ClientInfo,
    EndCause,
    claim_session,
    end_session_by_pk,
    lock_user,
)
from notes_api.throttling import throttle
from notes_api.users.models import User
from notes_api.validation import is_username, storable_username

PASSWORD_METHODS = ("pwd",)


@dataclass(frozen=True)
class VerifiedUser:
    """A user whose password was just checked, the hash it was checked against, and the
    hash to store in its place when that one is due for an upgrade (bcrypt, or weaker
    argon2 parameters than today's)."""

    user_id: int
    username: str
    verified_hash: str
    upgraded_hash: str | None = None


async def authenticate(
    db: AsyncSession,
    username: str,
    password: str,
    client_ip: str | None,
    throttle_policy: ThrottlePolicy,
) -> VerifiedUser:
    """The enabled user with these credentials; otherwise `InvalidGrantError`.

    Every path costs exactly one password verification in the thread pool, so
    neither the answer nor its timing tells whether the username exists. No
    transaction is open while the password is hashed: a connection (on SQLite,
    the database lock) is never held for the ~30 ms a verification takes. A
    failure is audited (username and address, never the password) and counted
    for throttling; a throttled attempt raises `LoginThrottledError` before any hashing,
    one that finds the hashing queue full `HashingBusyError`. A success is audited with the
    session it opens (`open_session`).
    """
    attempt, user = await throttle.reserve_attempt_reading(
        db, throttle_policy, username, client_ip, partial(_login_user, username=username)
    )
    async with throttle.settled(db, attempt):
        if user is None:
            await in_hashing_thread(burn_verification, password)
            await _login_failed(db, attempt, username, Actor(id=None, client_ip=client_ip))
        valid, upgraded_hash = await in_hashing_thread(
            verify_password, password, user.hashed_password
        )
        if not valid or user.disabled:
            await _login_failed(db, attempt, username, Actor(id=user.id, client_ip=client_ip))
        if user.has_totp:
            actor = Actor(id=user.id, client_ip=client_ip)
            await second_factor.second_factor_due(
                db, attempt, user.id, user.username, user.hashed_password, actor
            )
        await throttle.clear(db, username, client_ip, attempt)
    return VerifiedUser(user.id, user.username, user.hashed_password, upgraded_hash)


async def _login_user(db: AsyncSession, *, username: str) -> Row[int, str, str, bool, bool] | None:
    """The user of `username`, with whether a second factor is due, in one statement (read
    in the throttle's reservation transaction). Columns, not an ORM object: nothing here
    is written through the session (an upgraded hash is written by `open_session`, under
    the user's lock). The roles are not read: the session reads them under that lock."""
    if not is_username(username):
        return None
    return (await execute_core(db, _LOGIN_USER, {"username": username.lower()})).first()


_LOGIN_USER = select(
    User.id,
    User.username,
    User.hashed_password,
    User.disabled,
    mfa_service.has_active_totp(User.id).label("has_totp"),
).where(User.username == bindparam("username"))
"""Built once: every login runs it."""


async def _login_failed(db: AsyncSession, attempt: int, username: str, actor: Actor) -> NoReturn:
    """Count the attempt as a failure and audit it (never the password)."""
    await throttle.settle_failure(db, attempt)
    record(db, AuditAction.LOGIN_FAILED, actor, target=storable_username(username))
    await db.commit()
    raise InvalidGrantError


async def open_session(
    db: AsyncSession,
    verified: VerifiedUser,
    codec: AccessTokenCodec,
    policy: RefreshPolicy,
    client: ClientInfo,
    amr: tuple[str, ...] = PASSWORD_METHODS,
    *,
    second_factor_method: str | None = None,
) -> TokenPair:
    """A new session and its first token pair for a user who just proved who they are,
    and the login's audit entry (with the second factor's method, after an MFA grant).

    `verified.verified_hash` is the password hash the credentials were checked
    against, outside any transaction. The user row is locked and read again here: if the
    password changed or the user was disabled meanwhile, the login fails rather
    than leave a session that outlives that change. Roles are read under the
    same lock, and `iat` is the time before it, so a role revoked concurrently
    is either absent from the token or newer than it. A hash due for an upgrade is replaced
    under the same lock, once the verified one is found current.
    """
    now = utcnow()
    current = await lock_user(db, verified.user_id, for_update=True)
    if current is None or current.disabled or current.hashed_password != verified.verified_hash:
        await db.rollback()
        raise InvalidGrantError
    if verified.upgraded_hash is not None:
        await execute_core(
            db, _UPGRADE_HASH, {"user_id": verified.user_id, "hashed": verified.upgraded_hash}
        )
    detail = {} if second_factor_method is None else {"method": second_factor_method}
    login_event = event_parameters(
        AuditAction.LOGIN_SUCCEEDED,
        Actor(id=verified.user_id, client_ip=client.client_ip),
        target=verified.username,
        **detail,
    )
    return await issue_first_tokens(
        db,
        verified.user_id,
        verified.username,
        codec,
        policy,
        amr=amr,
        client=client,
        now=now,
        login_event=login_event,
    )


_UPGRADE_HASH = (
    update(User).where(User.id == bindparam("user_id")).values(hashed_password=bindparam("hashed"))
)


async def rotate(
    db: AsyncSession,
    presented: str,
    codec: AccessTokenCodec,
    policy: RefreshPolicy,
    client_ip: str | None,
) -> TokenPair:
    """Spend a refresh token and issue the next pair of its session, with fresh roles.

    Locks in the order every other session change uses (user, session, token):
    the user row `FOR SHARE`, then the session row by the conditional UPDATE of
    `claim_session`, then the token. An end of the session that runs at the
    same time either waits for this rotation and then ends the session the new
    token belongs to, or commits first and this rotation finds no live session.
    """
    now = utcnow()
    token = (
        await db.execute(
            select(
                RefreshToken.id,
                RefreshToken.user_id,
                RefreshToken.session_id,
                RefreshToken.family_id,
                RefreshToken.used_at,
            ).where(RefreshToken.token_hash == hash_refresh_token(presented))
        )
    ).first()
    if token is None:
        await db.rollback()
        raise InvalidGrantError
    user = await lock_user(db, token.user_id)
    if token.used_at is not None:
        await _reused(db, token.session_id, token.user_id, token.family_id, client_ip)
    session = await claim_session(db, token.session_id, now)
    if session is None or user is None:
        await db.rollback()
        raise InvalidGrantError
    if not await _spend(db, token.id, now):
        if await db.scalar(select(RefreshToken.used_at).where(RefreshToken.id == token.id)):
            # Spent by a concurrent request with the same token: that is reuse too.
            await _reused(db, token.session_id, token.user_id, token.family_id, client_ip)
        await db.rollback()  # expired or revoked
        raise InvalidGrantError
    if user.disabled:
        await end_session_by_pk(db, session.id, EndCause.DISABLED)
        await db.commit()
        raise InvalidGrantError
    username = await db.scalar(select(User.username).where(User.id == token.user_id))
    assert username is not None  # noqa: S101 - the row is locked, it cannot vanish
    return await issue_tokens(
        db, token.user_id, username, codec, policy, session, token.family_id, now
    )


async def _spend(db: AsyncSession, token_id: int, now: datetime) -> bool:
    spent = await db.scalar(
        update(RefreshToken)
        .where(
            RefreshToken.id == token_id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(RefreshToken.id)
    )
    return spent is not None


async def _reused(
    db: AsyncSession, session_pk: int, user_id: int, family_id: str, client_ip: str | None
) -> NoReturn:
    """A spent token presented again: end its session. Audited once per session, however
    many times a thief replays the token."""
    if await end_session_by_pk(db, session_pk, EndCause.REUSE):
        record(
            db, AuditAction.REFRESH_REUSED, Actor(id=user_id, client_ip=client_ip), target=family_id
        )
    await db.commit()
    metrics.record_refresh_reuse()  # every replay, though only the first one ends the session
    raise InvalidGrantError


async def revoke(db: AsyncSession, presented: str) -> None:
    """RFC 7009: end the session of the presented refresh token; unknown tokens are ignored."""
    session_pk = await db.scalar(
        select(RefreshToken.session_id).where(
            RefreshToken.token_hash == hash_refresh_token(presented)
        )
    )
    if session_pk is not None:
        await end_session_by_pk(db, session_pk, EndCause.LOGOUT)
    await db.commit()
