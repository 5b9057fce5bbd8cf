"""Enrolling, checking and removing a user's second factor (TOTP and recovery codes).

Every check that spends something (a TOTP time step, a recovery code) is one
conditional UPDATE, so two workers handling the same code at once cannot both
accept it: PostgreSQL's row lock makes the second re-read the row and find the
condition false.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from notes_api.actor import Actor
from notes_api.audit.service import AuditAction, record
from notes_api.clock import utcnow
from notes_api.exceptions import ConflictError, DomainError
from notes_api.mfa import totp
from notes_api.mfa.models import MfaChallenge, RecoveryCode, TotpCredential
from notes_api.policies import ThrottlePolicy
from notes_api.throttling import throttle
from notes_api.users.service import get_user


class WrongCodeError(DomainError):
    """A TOTP or recovery code that is wrong, malformed, used, or a replay (400)."""


@dataclass(frozen=True)
class Enrollment:
    secret: str
    otpauth_uri: str
    qr_svg: str


async def mfa_status(db: AsyncSession, user_id: int) -> tuple[bool, int]:
    """(whether TOTP is active, how many unused recovery codes are left): for GET /account."""
    active = await db.scalar(
        select(func.count())
        .select_from(TotpCredential)
        .where(TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None))
    )
    left = await db.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return bool(active), int(left or 0)


def has_active_totp(
    user_id: ColumnElement[int] | InstrumentedAttribute[int],
) -> ColumnElement[bool]:
    """Whether the user of `user_id` has an active TOTP secret, as a column a query of
    the user can select (the login reads both in one statement)."""
    return (
        select(TotpCredential.user_id)
        .where(TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None))
        .exists()
    )


async def totp_secret(db: AsyncSession, user_id: int) -> str | None:
    """The user's active TOTP secret, or None: whether a login needs a second factor."""
    secret: str | None = await db.scalar(
        select(TotpCredential.secret).where(
            TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None)
        )
    )
    return secret


async def begin_enrollment(db: AsyncSession, actor: Actor, username: str) -> Enrollment:
    """A new pending secret (replacing a pending one); 409 while one is active."""
    assert actor.id is not None  # noqa: S101 - only a logged-in user enrolls
    secret = totp.new_secret()
    replaced = await db.execute(
        update(TotpCredential)
        .where(TotpCredential.user_id == actor.id, TotpCredential.confirmed_at.is_(None))
        .values(secret=secret, created_at=utcnow())
        .returning(TotpCredential.user_id)
    )
    replaced_pending = replaced.first() is not None
    if not replaced_pending:
        if await totp_secret(db, actor.id) is not None:
            await db.rollback()
            raise ConflictError("A second factor is already active; remove it first")
        # Two concurrent first enrollments: the loser's INSERT violates the primary key,
        # which the error handlers answer with 409.
        await db.execute(insert(TotpCredential).values(user_id=actor.id, secret=secret))
    # A new secret exists from here on (pending): who made it and whether it displaced one.
    record(
        db,
        AuditAction.MFA_ENROLLMENT_STARTED,
        actor,
        target=username,
        replaced_pending=replaced_pending,
    )
    await db.commit()
    uri = totp.provisioning_uri(secret, username)
    return Enrollment(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


async def confirm_enrollment(db: AsyncSession, actor: Actor, username: str, code: str) -> list[str]:
    """Activate the pending secret with a first code; return ten new recovery codes."""
    assert actor.id is not None  # noqa: S101
    now = utcnow()
    pending = await db.scalar(
        select(TotpCredential.secret).where(
            TotpCredential.user_id == actor.id, TotpCredential.confirmed_at.is_(None)
        )
    )
    if pending is None:
        await db.rollback()
        raise ConflictError("No pending enrollment: start one with POST /account/mfa/totp")
    step = totp.matching_step(pending, code, now)
    if step is None:
        # The answer is an error, so the refusal is committed on its own, before it
        # (as `disable_with_code` does): a rollback at the end of the request must not
        # take the audit entry with it.
        await db.rollback()
        record(db, AuditAction.MFA_CODE_REJECTED, actor, target=username, purpose="confirm")
        await db.commit()
        raise WrongCodeError("Wrong code")
    activated = await db.execute(
        update(TotpCredential)
        .where(
            TotpCredential.user_id == actor.id,
            TotpCredential.confirmed_at.is_(None),
            TotpCredential.secret == pending,  # not replaced by a new POST meanwhile
        )
        .values(confirmed_at=now, last_step=step)
        .returning(TotpCredential.user_id)
    )
    if activated.first() is None:
        await db.rollback()
        raise ConflictError("The pending enrollment changed meanwhile; start again")
    codes = await _replace_recovery_codes(db, actor.id)
    record(db, AuditAction.MFA_ENABLED, actor, target=username)
    await db.commit()
    return codes


async def _replace_recovery_codes(db: AsyncSession, user_id: int) -> list[str]:
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = totp.new_recovery_codes()
    hashes = [
        totp.hash_recovery_code(user_id, totp.normalize_recovery_code(c) or "") for c in codes
    ]
    await db.execute(insert(RecoveryCode), [{"user_id": user_id, "code_hash": h} for h in hashes])
    return codes


async def spend_code(db: AsyncSession, user_id: int, secret: str, code: str, now: datetime) -> str:
    """Accept a TOTP code or a recovery code once; return the method (`otp` or
    `recovery_code`), or raise `WrongCodeError`."""
    if totp.is_code_shaped(code.strip()):
        await spend_totp(db, user_id, secret, code.strip(), now)
        return "otp"
    await spend_recovery_code(db, user_id, code, now)
    return "recovery_code"


async def spend_totp(db: AsyncSession, user_id: int, secret: str, code: str, now: datetime) -> None:
    """Accept a TOTP code once, or raise `WrongCodeError`. Runs in the caller's transaction:
    the UPDATE holds the row until the caller commits (or rolls back on failure)."""
    step = totp.matching_step(secret, code, now)
    if step is None or not await _advance_step(db, user_id, step):
        raise WrongCodeError("Wrong code")


async def spend_recovery_code(db: AsyncSession, user_id: int, code: str, now: datetime) -> None:
    normalized = totp.normalize_recovery_code(code)
    if normalized is None or not await _use_recovery_code(db, user_id, normalized, now):
        raise WrongCodeError("Wrong recovery code")


async def _advance_step(db: AsyncSession, user_id: int, step: int) -> bool:
    """Record `step` as the last accepted one, unless it (or a later one) already was:
    the replay guard, atomic across workers."""
    advanced = await db.execute(
        update(TotpCredential)
        .where(
            TotpCredential.user_id == user_id,
            TotpCredential.confirmed_at.is_not(None),
            TotpCredential.last_step < step,
        )
        .values(last_step=step)
        .returning(TotpCredential.user_id)
    )
    return advanced.first() is not None


async def _use_recovery_code(
    db: AsyncSession, user_id: int, normalized: str, now: datetime
) -> bool:
    used = await db.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == totp.hash_recovery_code(user_id, normalized),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .returning(RecoveryCode.id)
    )
    return used.first() is not None


async def remove_second_factor(db: AsyncSession, user_id: int) -> bool:
    """Delete the user's TOTP secret, recovery codes and open challenges (no commit).
    Whether there was an active second factor."""
    removed = await db.execute(
        delete(TotpCredential)
        .where(TotpCredential.user_id == user_id)
        .returning(TotpCredential.confirmed_at)
    )
    was_active = any(confirmed is not None for (confirmed,) in removed)
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    await db.execute(delete(MfaChallenge).where(MfaChallenge.user_id == user_id))
    return was_active


async def reset_by_admin(db: AsyncSession, actor: Actor, user_id: int) -> None:
    """DELETE /users/{id}/mfa: a lost phone. Idempotent; audited with what was removed."""
    user = await get_user(db, user_id)
    was_active = await remove_second_factor(db, user.id)
    record(db, AuditAction.MFA_RESET, actor, target=user.username, removed=was_active)
    await db.commit()


async def disable_with_code(
    db: AsyncSession, actor: Actor, username: str, code: str, throttle_policy: ThrottlePolicy
) -> None:
    """DELETE /account/mfa/totp: the user proves the second factor once more (a TOTP or a
    recovery code). Wrong codes count toward login throttling, as at login: a stolen
    access token must not become a way to guess the code that protects the account."""
    assert actor.id is not None  # noqa: S101
    attempt = await throttle.reserve_attempt(db, throttle_policy, username, actor.client_ip)
    secret = await totp_secret(db, actor.id)
    if secret is None:
        await throttle.discard(db, attempt)
        await db.commit()
        raise ConflictError("No second factor is active")
    try:
        method = await spend_code(db, actor.id, secret, code, utcnow())
    except WrongCodeError:
        await db.rollback()
        await throttle.settle_failure(db, attempt)
        record(db, AuditAction.MFA_CODE_REJECTED, actor, target=username, purpose="disable")
        await db.commit()
        raise
    await remove_second_factor(db, actor.id)
    await throttle.clear(db, username, actor.client_ip, attempt)
    record(db, AuditAction.MFA_DISABLED, actor, target=username, method=method)
    await db.commit()
