"""Second-factor rows: a user's TOTP secret, recovery codes, and login challenges.

The TOTP secret is stored in clear: the server must compute the same codes as
the phone. It never leaves the server after enrollment and never goes into a
log or the audit trail. Recovery codes and challenge tokens are stored as
digests only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from notes_api.database import Base


class TotpCredential(Base):
    """One per user: pending until `confirmed_at` is set by a first valid code."""

    __tablename__ = "totp_credentials"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_step: Mapped[int] = mapped_column(BigInteger, server_default="0")
    """The last accepted 30-second step: a code of this step or an older one is a replay.
    Moved only by `UPDATE ... WHERE last_step < :step`, so of two workers accepting the
    same code at once, exactly one succeeds."""


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)


class MfaChallenge(Base):
    """A login half done: the password was right, a second factor is due (the `mfa_token`)."""

    __tablename__ = "mfa_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    methods: Mapped[str] = mapped_column(String(32))
    """RFC 8176 methods already used (comma-joined): `pwd`. The completed login's tokens
    carry these, then `otp` (`sessions.second_factor.issued_amr`)."""
    password_digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the password hash that was verified: a password changed meanwhile
    voids the challenge."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    failures: Mapped[int] = mapped_column(Integer, server_default="0")
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
