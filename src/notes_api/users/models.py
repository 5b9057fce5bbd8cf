"""Users, roles, and the `user_roles` rows that grant one to the other.

Granting a role is inserting a `user_roles` row and revoking it is deleting
one, whether through the API, the CLI or plain SQL: tokens read roles from
these rows at login and at every refresh.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    false,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from notes_api.database import Base

user_roles = Table(
    "user_roles",
    Base.metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", Integer, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    Column("granted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


class Role(Base):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), server_default="")

    __table_args__ = (CheckConstraint("name = lower(name)", name="name_lower_case"),)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    hashed_password: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    tokens_valid_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    """Access tokens issued before this time are refused (set by database triggers when a
    `user_roles` row is deleted or the user is disabled, however the change is made)."""

    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="raise", order_by=Role.name)

    __table_args__ = (CheckConstraint("username = lower(username)", name="username_lower_case"),)

    @property
    def role_names(self) -> list[str]:
        return [role.name for role in self.roles]
