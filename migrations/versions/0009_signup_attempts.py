"""`signup_attempts`: sign-ups per client address, for the sign-up throttle.

Revision ID: 0009_signup_attempts
Revises: 0008_personal_access_tokens
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_signup_attempts"
down_revision: str | None = "0008_personal_access_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signup_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_ip", sa.String(length=45), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signup_attempts")),
    )
    op.create_index(
        "ix_signup_attempts_client_ip", "signup_attempts", ["client_ip", "attempted_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_signup_attempts_client_ip", table_name="signup_attempts")
    op.drop_table("signup_attempts")
