"""Password-reset tokens, and the reset requests counted for throttling.

A token is stored as its SHA-256 digest only (it has 256 random bits, so the
digest gives nothing away and lets the database find it by a unique index).
It is usable while `used_at` and `voided_at` are empty and `expires_at` is
ahead. It is stored before its mail is sent (so the link works the moment the
mail arrives), and once the mail is accepted the older ones are voided (so an
undelivered mail never voids a link that was delivered).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from notes_api.database import Base


class PasswordResetToken(Base):
    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    mailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the SMTP server accepted the mail carrying it (what throttling counts)."""
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PasswordResetRequest(Base):
    """One `POST /account/password/forgot`, kept for the throttling window."""

    __tablename__ = "password_reset_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_ip: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(320))
    """The email or username asked for, as typed (lower-cased): whether or not it exists."""
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        Index("ix_password_reset_requests_client_ip", "client_ip", "requested_at"),
        Index("ix_password_reset_requests_subject", "subject", "requested_at"),
        Index("ix_password_reset_requests_requested_at", "requested_at"),
    )
