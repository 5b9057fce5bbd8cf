"""`login_failures` becomes `login_attempts`: it also holds attempts still being checked.

A rename, rows kept (the throttling counts survive the upgrade). The indexes
are dropped and created under their new names, which both SQLite (no ALTER
INDEX ... RENAME) and PostgreSQL accept; the table holds one throttling
window of rows, so rebuilding them is cheap.

Revision ID: 0005_login_attempts
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_login_attempts"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "failed_at": ["failed_at"],
    "username_client_ip": ["username", "client_ip", "failed_at"],
    "client_ip": ["client_ip", "failed_at"],
}


def _rename(old: str, new: str) -> None:
    for suffix in INDEXES:
        op.drop_index(f"ix_{old}_{suffix}", table_name=old)
    op.rename_table(old, new)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT pk_{old} TO pk_{new}")
        op.execute(f"ALTER SEQUENCE {old}_id_seq RENAME TO {new}_id_seq")
    for suffix, columns in INDEXES.items():
        op.create_index(f"ix_{new}_{suffix}", new, columns)


def upgrade() -> None:
    _rename("login_failures", "login_attempts")


def downgrade() -> None:
    _rename("login_attempts", "login_failures")
