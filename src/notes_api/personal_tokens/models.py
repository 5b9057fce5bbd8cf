"""Personal access tokens, stored as SHA-256 digests only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from notes_api.database import Base


class PersonalAccessToken(Base):
    __tablename__ = "personal_access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """The unique index every use looks the token up by."""
    roles: Mapped[str] = mapped_column(Text, server_default="")
    """Comma-joined role names it was given; it acts with those the owner still has."""
    amr: Mapped[str] = mapped_column(String(64), server_default="")
    """Comma-joined login methods of the access token that created it: a role listed in
    MFA_REQUIRED_ROLES counts for the personal token only if that login used `otp`."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Written at most once a minute, so a busy script costs one write a minute, not one
    per request."""
