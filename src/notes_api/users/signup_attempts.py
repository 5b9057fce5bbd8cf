"""Sign-ups per client address, kept for the sign-up throttling window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from notes_api.database import Base


class SignupAttempt(Base):
    """One sign-up request, whatever its outcome, counted per address bucket (an IPv4
    address or an IPv6 /64). In the database, so every worker sees the same count."""

    __tablename__ = "signup_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_ip: Mapped[str] = mapped_column(String(45))
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_signup_attempts_client_ip", "client_ip", "attempted_at"),)
