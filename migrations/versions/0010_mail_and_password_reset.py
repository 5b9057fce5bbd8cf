"""Mail outbox, password-reset tokens and reset requests (issue 15: accounts).

New tables only: nothing existing changes, so the upgrade is the same on a
database holding data.

Revision ID: 0010_mail_and_password_reset
Revises: 0009_signup_attempts
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_mail_and_password_reset"
down_revision: str | None = "0009_signup_attempts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _now(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        _now("created_at"),
        _now("next_attempt_at"),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        _when("claimed_until"),
        sa.Column("claim", sa.String(length=32), nullable=True),
        _when("sent_at"),
        _when("discarded_at"),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    op.create_index(
        "ix_mail_outbox_due", "mail_outbox", ["sent_at", "discarded_at", "next_attempt_at"]
    )
    op.create_table(
        "password_reset_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _now("created_at"),
        _when("expires_at", nullable=False),
        _when("mailed_at"),
        _when("used_at"),
        _when("voided_at"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_password_reset_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_reset_tokens_token_hash")),
    )
    op.create_index(op.f("ix_password_reset_tokens_user_id"), "password_reset_tokens", ["user_id"])
    op.create_table(
        "password_reset_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=320), nullable=False),
        _now("requested_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset_requests")),
    )
    for name, columns in {
        "client_ip": ["client_ip", "requested_at"],
        "subject": ["subject", "requested_at"],
        "requested_at": ["requested_at"],
    }.items():
        op.create_index(f"ix_password_reset_requests_{name}", "password_reset_requests", columns)


def downgrade() -> None:
    op.drop_table("password_reset_requests")
    op.drop_table("password_reset_tokens")
    op.drop_table("mail_outbox")
