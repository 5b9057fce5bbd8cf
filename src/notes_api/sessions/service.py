"""Login, refresh-token rotation and revocation: the token endpoint's use cases.

Refresh tokens rotate on every use. The rotation is one conditional UPDATE
(`... WHERE used_at IS NULL ... RETURNING`), so when several requests present
the same token at once the database lets exactly one of them through. Anyone
presenting a token that was already rotated is treated as a thief (RFC 9700
section 4.14.2): the token's whole family is revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.audit.service import Actor, AuditAction, record
from notes_api.auth.passwords import burn_verification, in_hashing_thread, verify_password
from notes_api.auth.tokens import (
    AccessTokenCodec,
    hash_refresh_token,
    new_family_id,
    new_refresh_token,
)
from notes_api.clock import as_utc, utcnow
from notes_api.mfa import login as mfa_login
from notes_api.mfa import service as mfa_service
from notes_api.sessions import throttle
from notes_api.sessions.exceptions import InvalidGrantError, MfaRequiredError
from notes_api.sessions.models import RefreshToken
from notes_api.sessions.policies import RefreshPolicy, ThrottlePolicy
from notes_api.sessions.revocation import revoke_family
from notes_api.users.models import User
from notes_api.users.service import find_user_by_username, get_user
from notes_api.validation import is_username, storable_username


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


async def authenticate(
    db: AsyncSession,
    username: str,
    password: str,
    client_ip: str | None,
    throttle_policy: ThrottlePolicy,
) -> User:
    """The enabled user with these credentials; otherwise `InvalidGrantError`.

    Every path costs exactly one password verification in the thread pool, so
    neither the answer nor its timing tells whether the username exists. No
    transaction is open while the password is hashed: a connection (on SQLite,
    the database lock) is never held for the ~30 ms a verification takes. A
    failure is audited (username and address, never the password) and counted
    for throttling; a throttled attempt raises `LoginThrottledError` before any hashing.
    """
    attempt = await throttle.reserve_attempt(db, throttle_policy, username, client_ip)
    user = await find_user_by_username(db, username) if is_username(username) else None
    has_totp = user is not None and await mfa_service.totp_secret(db, user.id) is not None
    await db.commit()  # ends the read; the loaded user and roles stay usable
    if user is None:
        await in_hashing_thread(burn_verification, password)
        await _login_failed(db, attempt, username, Actor(id=None, client_ip=client_ip))
    valid, upgraded_hash = await in_hashing_thread(verify_password, password, user.hashed_password)
    if not valid or user.disabled:
        await _login_failed(db, attempt, username, Actor(id=user.id, client_ip=client_ip))
    if has_totp:
        await _second_factor_due(db, attempt, user, Actor(id=user.id, client_ip=client_ip))
    if upgraded_hash is not None:
        user.hashed_password = upgraded_hash
    await throttle.clear(db, username, client_ip, attempt)
    record(
        db,
        AuditAction.LOGIN_SUCCEEDED,
        Actor(id=user.id, client_ip=client_ip),
        target=user.username,
    )
    return user


async def _login_failed(db: AsyncSession, attempt: int, username: str, actor: Actor) -> NoReturn:
    """Count the attempt as a failure and audit it (never the password)."""
    await throttle.settle_failure(db, attempt)
    record(db, AuditAction.LOGIN_FAILED, actor, target=storable_username(username))
    await db.commit()
    raise InvalidGrantError


async def _second_factor_due(db: AsyncSession, attempt: int, user: User, actor: Actor) -> NoReturn:
    """The password was right and a second factor is due: the attempt is neither a failure
    nor a success, so the pair's earlier failures (wrong codes included) stay counted."""
    await throttle.discard(db, attempt)
    record(db, AuditAction.LOGIN_MFA_REQUIRED, actor, target=user.username)
    raise MfaRequiredError(await mfa_login.open_challenge(db, user, user.hashed_password))


async def start_session(
    db: AsyncSession,
    user: User,
    codec: AccessTokenCodec,
    policy: RefreshPolicy,
    amr: tuple[str, ...] = ("pwd",),
) -> TokenPair:
    """A fresh token family for a user who just logged in with the methods `amr`."""
    now = utcnow()
    return await _issue(
        db,
        user,
        codec,
        policy,
        family_id=new_family_id(),
        family_expires_at=now + policy.family_lifetime,
        now=now,
        amr=amr,
    )


async def rotate(
    db: AsyncSession,
    presented: str,
    codec: AccessTokenCodec,
    policy: RefreshPolicy,
    client_ip: str | None,
) -> TokenPair:
    """Spend a refresh token and issue the next pair in its family, with fresh roles."""
    now = utcnow()
    digest = hash_refresh_token(presented)
    spent = (
        await db.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == digest,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(RefreshToken.user_id, RefreshToken.family_id, RefreshToken.family_expires_at)
        )
    ).first()
    if spent is None:
        await _handle_unusable(db, digest, client_ip)
        raise InvalidGrantError
    user_id, family_id, family_expires_at = spent
    user = await get_user(db, user_id)
    if user.disabled:
        await revoke_family(db, family_id)
        await db.commit()
        raise InvalidGrantError
    return await _issue(
        db,
        user,
        codec,
        policy,
        family_id=family_id,
        family_expires_at=family_expires_at,
        now=now,
    )


async def _handle_unusable(db: AsyncSession, digest: str, client_ip: str | None) -> None:
    """A refresh token that cannot be spent: if it was already spent, that is reuse."""
    token = await db.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest))
    if token is not None and token.used_at is not None:
        await revoke_family(db, token.family_id)
        record(
            db,
            AuditAction.REFRESH_REUSED,
            Actor(id=token.user_id, client_ip=client_ip),
            target=token.family_id,
        )
        await db.commit()
    else:
        await db.rollback()


async def revoke(db: AsyncSession, presented: str) -> None:
    """RFC 7009: revoke the presented refresh token's whole family; unknown tokens are ignored."""
    family_id = await db.scalar(
        select(RefreshToken.family_id).where(
            RefreshToken.token_hash == hash_refresh_token(presented)
        )
    )
    if family_id is not None:
        await revoke_family(db, family_id)
    await db.commit()


async def _issue(
    db: AsyncSession,
    user: User,
    codec: AccessTokenCodec,
    policy: RefreshPolicy,
    *,
    family_id: str,
    family_expires_at: datetime,
    now: datetime,
    amr: tuple[str, ...] = ("pwd",),
) -> TokenPair:
    refresh_token = new_refresh_token()
    db.add(
        RefreshToken(
            token_hash=hash_refresh_token(refresh_token),
            user_id=user.id,
            family_id=family_id,
            issued_at=now,
            expires_at=min(now + policy.lifetime, as_utc(family_expires_at)),
            family_expires_at=family_expires_at,
        )
    )
    await db.commit()
    access_token = codec.encode(
        user_id=user.id, username=user.username, roles=user.role_names, amr=list(amr)
    )
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=int(codec.lifetime.total_seconds()),
    )
