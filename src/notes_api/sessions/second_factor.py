"""The second step of a login: the `mfa_token` challenge and the two MFA grants.

A password grant for a user with TOTP does not log in: it opens a challenge
and answers with its `mfa_token` (256 random bits, stored as a SHA-256 digest,
bound to the user, to the methods used so far and to the password hash that
was verified). The token lives `CHALLENGE_LIFETIME`, serves one success, and
dies after `MAX_WRONG_CODES` wrong codes. Each wrong code also counts as a
failed login of the (username, address) pair, so guessing codes is throttled
exactly like guessing passwords, and a correct password does not reset it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, NoReturn

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.actor import Actor
from notes_api.audit.service import AuditAction, record
from notes_api.clock import utcnow
from notes_api.exceptions import NotFoundError
from notes_api.mfa import service
from notes_api.mfa.models import MfaChallenge
from notes_api.policies import ThrottlePolicy
from notes_api.sessions.exceptions import InvalidGrantError, MfaRequiredError
from notes_api.sessions.session_store import split_amr
from notes_api.throttling import throttle
from notes_api.users.models import User
from notes_api.users.service import get_user

CHALLENGE_LIFETIME = timedelta(minutes=5)
MAX_WRONG_CODES = 5
MFA_TOKEN_BYTES = 32
SECOND_FACTOR_METHOD = "otp"
"""What either MFA grant adds to the challenge's methods in `amr` (RFC 8176). A recovery code
gives `otp` too, as DESIGN.md's `["pwd", "otp"]` for both grants says: RFC 8176 has no value
for it, it stands in for the authenticator it was issued with, and step-up (which asks for
`otp`) must let through a user who lost the phone and logs in with one."""

Method = Literal["otp", "recovery_code"]


@dataclass(frozen=True)
class CompletedLogin:
    user: User
    amr: tuple[str, ...]
    """The methods the challenge recorded, then the second factor: what the tokens carry."""


MFA_GRANTS: dict[str, Method] = {
    "urn:notes-api:params:oauth:grant-type:mfa-otp": "otp",
    "urn:notes-api:params:oauth:grant-type:mfa-recovery-code": "recovery_code",
}
"""The two extension grants (RFC 6749 section 4.5) and the code each takes: here, below
both the token endpoint and the RFC 8414 metadata that must name the same URNs."""


def _digest(value: str) -> str:
    """SHA-256 suffices: an mfa_token has 256 random bits; a password hash is no secret
    to this table's reader that the users table does not already hold."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


async def open_challenge(db: AsyncSession, user_id: int, verified_hash: str) -> str:
    """Store a new challenge for the user (password verified against `verified_hash`) and
    return its mfa_token. Commits. Expired challenges are swept on the way."""
    now = utcnow()
    token = secrets.token_urlsafe(MFA_TOKEN_BYTES)
    await db.execute(delete(MfaChallenge).where(MfaChallenge.expires_at < now))
    await db.execute(
        insert(MfaChallenge).values(
            token_hash=_digest(token),
            user_id=user_id,
            methods="pwd",  # the password was verified; comma-joined as `amr` in sessions
            password_digest=_digest(verified_hash),
            expires_at=now + CHALLENGE_LIFETIME,
        )
    )
    await db.commit()
    return token


async def complete_login(
    db: AsyncSession,
    mfa_token: str,
    method: Method,
    code: str,
    client_ip: str | None,
    throttle_policy: ThrottlePolicy,
) -> CompletedLogin:
    """The user of a live challenge whose code is right, and the login's `amr`; otherwise
    `InvalidGrantError` (or `LoginThrottledError`). The challenge, the TOTP step or the
    recovery code are spent in the transaction the caller commits with the new session."""
    now = utcnow()
    challenge = await db.scalar(
        select(MfaChallenge).where(
            MfaChallenge.token_hash == _digest(mfa_token),
            MfaChallenge.used_at.is_(None),
            MfaChallenge.expires_at > now,
            MfaChallenge.failures < MAX_WRONG_CODES,
        )
    )
    if challenge is None:
        await db.rollback()
        raise InvalidGrantError
    challenge_id, amr = challenge.id, issued_amr(challenge.methods)
    try:
        user = await get_user(db, challenge.user_id)
    except NotFoundError:  # deleted between the lookups (its challenges go with it)
        await db.rollback()
        raise InvalidGrantError from None
    bound_to_current_password = challenge.password_digest == _digest(user.hashed_password)
    await db.commit()
    username, actor = user.username, Actor(id=user.id, client_ip=client_ip)
    attempt = await throttle.reserve_attempt(db, throttle_policy, username, client_ip)
    secret = await service.totp_secret(db, user.id)
    if user.disabled or not bound_to_current_password or secret is None:
        # Not a guess: the account changed since the password step. The token is dead.
        await db.execute(delete(MfaChallenge).where(MfaChallenge.id == challenge_id))
        await throttle.discard(db, attempt)
        await db.commit()
        raise InvalidGrantError
    try:
        await _spend_challenge(db, challenge_id)
        if method == "otp":
            await service.spend_totp(db, user.id, secret, code, now)
        else:
            await service.spend_recovery_code(db, user.id, code, now)
    except service.WrongCodeError:
        await db.rollback()  # expires `user`: only plain values below
        await _wrong_code(db, challenge_id, attempt, username, actor, method)
    await throttle.clear(db, user.username, client_ip, attempt)
    if method == "recovery_code":
        _, left = await service.mfa_status(db, user.id)
        record(db, AuditAction.RECOVERY_CODE_USED, actor, target=user.username, left=left)
    return CompletedLogin(user=user, amr=amr)  # audited with the session it opens


def issued_amr(methods_so_far: str) -> tuple[str, ...]:
    """The challenge's stored methods (the binding: the token claims no first factor the
    login did not go through), then `otp`."""
    return (*split_amr(methods_so_far), SECOND_FACTOR_METHOD)


async def _spend_challenge(db: AsyncSession, challenge_id: int) -> None:
    """One success per token: of concurrent requests with one token, one gets the row."""
    spent = await db.execute(
        update(MfaChallenge)
        .where(
            MfaChallenge.id == challenge_id,
            MfaChallenge.used_at.is_(None),
            MfaChallenge.failures < MAX_WRONG_CODES,
        )
        .values(used_at=utcnow())
        .returning(MfaChallenge.id)
    )
    if spent.first() is None:
        raise service.WrongCodeError("challenge already spent")


async def _wrong_code(
    db: AsyncSession, challenge_id: int, attempt: int, username: str, actor: Actor, method: Method
) -> NoReturn:
    await db.execute(
        update(MfaChallenge)
        .where(MfaChallenge.id == challenge_id)
        .values(failures=MfaChallenge.failures + 1)
    )
    await throttle.settle_failure(db, attempt)
    record(db, AuditAction.LOGIN_FAILED, actor, target=username, method=method)
    await db.commit()
    raise InvalidGrantError


async def second_factor_due(
    db: AsyncSession, attempt: int, user_id: int, username: str, verified_hash: str, actor: Actor
) -> NoReturn:
    """The password was right and a second factor is due: the attempt is neither a failure
    nor a success, so the pair's earlier failures (wrong codes included) stay counted."""
    await throttle.discard(db, attempt)
    record(db, AuditAction.LOGIN_MFA_REQUIRED, actor, target=username)
    raise MfaRequiredError(await open_challenge(db, user_id, verified_hash))
