"""Notes, each owned by one user and listed newest first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from notes_api.database import Base


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, server_default="")
    source: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    # Pages are keyset-paginated on id, newest (highest) first: one index range scan per page.
    __table_args__ = (
        Index("ix_notes_owner_id_id", "owner_id", "id"),
        Index("ix_notes_owner_id_source_id", "owner_id", "source", "id"),
        Index("ix_notes_source_id", "source", "id"),
    )
