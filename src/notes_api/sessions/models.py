"""Refresh tokens, stored only as SHA-256 hashes, grouped into families by login; and the
cut-offs of deleted users, which outlive their rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from notes_api.database import Base


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    """The login this token belongs to: usable only while that session is live."""
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    family_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Set when the token is rotated; presenting it again is reuse."""
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserDeletion(Base):
    """A deleted user's cut-off: their access tokens are refused like those of a user whose
    roles were taken away. Written by a database trigger on `users`, so a `DELETE` typed in
    SQL counts too; kept after the user's row is gone, for workers that load the revocation
    set later. Never pruned: one small row per deleted user."""

    __tablename__ = "user_deletions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int]
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
