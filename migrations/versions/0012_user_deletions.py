"""Deleted users' access tokens are refused like those of a user whose roles were taken.

Deleting a user deletes its `user_roles` rows (ON DELETE CASCADE), and a role row
deleted, however it is deleted, must cut the user's access tokens off within a
second. The trigger of 0006_sessions cannot: it sets `users.tokens_valid_after`,
and the row it would set is the one being deleted. So a trigger on `users`
records the deletion in `user_deletions` (which workers read when they load
the revocation set) and, on PostgreSQL, announces it like any other cut-off.
(SQLite's trigger is kept by migrations/env.py: see `notes_api.sessions.sqlite_triggers`.)

Revision ID: 0012_user_deletions
Revises: 0011_second_factor
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_user_deletions"
down_revision: str | None = "0011_second_factor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES_TRIGGERS = [
    """
    CREATE FUNCTION notes_api_user_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        deleted_at timestamptz := clock_timestamp();
    BEGIN
        INSERT INTO user_deletions (user_id, deleted_at) VALUES (OLD.id, deleted_at);
        PERFORM pg_notify('notes_api_revocations',
            'u:' || OLD.id || ':' || extract(epoch FROM deleted_at));
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER users_deleted_cut_off_tokens AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notes_api_user_deleted()
    """,
]
POSTGRES_DROP = [
    "DROP TRIGGER users_deleted_cut_off_tokens ON users",
    "DROP FUNCTION notes_api_user_deleted()",
]


def upgrade() -> None:
    op.create_table(
        "user_deletions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_deletions")),
    )
    op.create_index(op.f("ix_user_deletions_deleted_at"), "user_deletions", ["deleted_at"])
    if op.get_bind().dialect.name != "sqlite":  # SQLite's: see notes_api.sessions.sqlite_triggers
        for statement in POSTGRES_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for statement in POSTGRES_DROP:
            op.execute(statement)
    op.drop_index(op.f("ix_user_deletions_deleted_at"), table_name="user_deletions")
    op.drop_table("user_deletions")
