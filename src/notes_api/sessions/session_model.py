"""A session is one login: its refresh-token family, its public id and how it ended.

The row is also the one thing rotation and revocation contend on: rotating a
refresh token updates its session row `WHERE ended_at IS NULL` before the next
token is written, and ending a session updates the same row, so under READ
COMMITTED one of them waits for the other and a rotation can never outlive the
end of its session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from notes_api.database import Base

CLIENT_IP_LENGTH = 64
USER_AGENT_LENGTH = 256


class LoginSession(Base):
    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str] = mapped_column(String(32), unique=True)
    """Public and random: what access tokens carry and `/account/sessions` shows."""
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    client_ip: Mapped[str | None] = mapped_column(String(CLIENT_IP_LENGTH))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_LENGTH))
    amr: Mapped[str] = mapped_column(String(64), server_default="pwd")
    """Comma-joined RFC 8176 methods used at login, e.g. `pwd` or `pwd,otp`."""
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    end_cause: Mapped[str | None] = mapped_column(String(32))

    @property
    def methods(self) -> list[str]:
        return [method for method in self.amr.split(",") if method]
