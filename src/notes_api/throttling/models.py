"""Login attempts, counted in the database so that every worker and container sees the
same counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from notes_api.database import Base


class LoginAttempt(Base):
    """One login attempt: still being checked (`pending`), or failed and kept for the
    throttling window; counted per (username, address) and per address. In the database,
    so every worker and container sees the same counts. A successful attempt is deleted."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    client_ip: Mapped[str] = mapped_column(String(45))
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    """When the attempt started; for a failure, when it failed (a hash later)."""
    pending: Mapped[bool] = mapped_column(Boolean, server_default=false())

    __table_args__ = (
        Index("ix_login_attempts_username_client_ip", "username", "client_ip", "failed_at"),
        Index("ix_login_attempts_client_ip", "client_ip", "failed_at"),
    )
