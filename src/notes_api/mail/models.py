"""The mail outbox: mails to send, written in the transaction of the request that wants them.

A row holds what the mail is about (`kind`, `payload`), never a secret: a
password-reset link's token is made by the sender when it sends, so no usable
token rests in this table. A row is done when `sent_at` (sent) or
`discarded_at` (nothing to send: no such account, throttled, bad address) is
set; until then the sender retries it, later each time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from notes_api.database import Base


class OutboxMail(Base):
    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    attempts: Mapped[int] = mapped_column(server_default="0")
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """A sender holds the row until then: it is sending it. Past it, the sender is presumed dead."""
    claim: Mapped[str | None] = mapped_column(String(32))
    """Which claim holds the row: only that claim may mark it sent or failed."""
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    discarded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_mail_outbox_due", "sent_at", "discarded_at", "next_attempt_at"),)
