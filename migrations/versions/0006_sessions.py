"""Sessions: one row per login, refresh tokens belong to one, and revocation triggers.

Every existing refresh-token family becomes a session (live if the family
still holds a usable token), so nobody is logged out by the upgrade.

`users.tokens_valid_after` is the per-user cut-off for access tokens. Database
triggers set it when a `user_roles` row is deleted or a user is disabled, so a
change made in plain SQL counts like one made through the API; on PostgreSQL,
further triggers announce every cut-off and every ended session with
`pg_notify` on the channel `notes_api_revocations`, which each server worker
listens to. (SQLite's triggers are kept by migrations/env.py, because batch
mode rebuilds tables: see `notes_api.sessions.sqlite_triggers`.)

Revision ID: 0006_sessions
Revises: 0004
Create Date: 2026-11-25
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006_sessions"
down_revision: str | None = "0005_login_attempts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "notes_api_revocations"

POSTGRES_TRIGGERS = [
    """
    CREATE FUNCTION notes_api_role_row_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- clock_timestamp(), not now(): the transaction may have started long before
        UPDATE users SET tokens_valid_after = clock_timestamp() WHERE id = OLD.user_id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER user_roles_deleted_cut_off_tokens AFTER DELETE ON user_roles
    FOR EACH ROW EXECUTE FUNCTION notes_api_role_row_deleted()
    """,
    """
    CREATE FUNCTION notes_api_user_disabled() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.tokens_valid_after := clock_timestamp();
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER users_disabled_cut_off_tokens BEFORE UPDATE ON users
    FOR EACH ROW WHEN (NEW.disabled AND NOT OLD.disabled)
    EXECUTE FUNCTION notes_api_user_disabled()
    """,
    f"""
    CREATE FUNCTION notes_api_notify_cut_off() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('{CHANNEL}',
            'u:' || NEW.id || ':' || extract(epoch FROM NEW.tokens_valid_after));
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER users_cut_off_notify AFTER UPDATE ON users
    FOR EACH ROW WHEN (NEW.tokens_valid_after IS DISTINCT FROM OLD.tokens_valid_after)
    EXECUTE FUNCTION notes_api_notify_cut_off()
    """,
    f"""
    CREATE FUNCTION notes_api_notify_session_ended() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('{CHANNEL}', 's:' || NEW.sid);
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER sessions_ended_notify AFTER UPDATE ON sessions
    FOR EACH ROW WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL)
    EXECUTE FUNCTION notes_api_notify_session_ended()
    """,
]
POSTGRES_DROP = [
    "DROP TRIGGER sessions_ended_notify ON sessions",
    "DROP FUNCTION notes_api_notify_session_ended()",
    "DROP TRIGGER users_cut_off_notify ON users",
    "DROP FUNCTION notes_api_notify_cut_off()",
    "DROP TRIGGER users_disabled_cut_off_tokens ON users",
    "DROP FUNCTION notes_api_user_disabled()",
    "DROP TRIGGER user_roles_deleted_cut_off_tokens ON user_roles",
    "DROP FUNCTION notes_api_role_row_deleted()",
]

_refresh_tokens = sa.table(
    "refresh_tokens",
    sa.column("id", sa.Integer()),
    sa.column("user_id", sa.Integer()),
    sa.column("family_id", sa.String()),
    sa.column("session_id", sa.Integer()),
    sa.column("issued_at", sa.DateTime(timezone=True)),
    sa.column("expires_at", sa.DateTime(timezone=True)),
    sa.column("family_expires_at", sa.DateTime(timezone=True)),
    sa.column("used_at", sa.DateTime(timezone=True)),
    sa.column("revoked_at", sa.DateTime(timezone=True)),
)
_sessions = sa.table(
    "sessions",
    sa.column("id", sa.Integer()),
    sa.column("sid", sa.String()),
    sa.column("user_id", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("last_used_at", sa.DateTime(timezone=True)),
    sa.column("expires_at", sa.DateTime(timezone=True)),
    sa.column("amr", sa.String()),
    sa.column("ended_at", sa.DateTime(timezone=True)),
    sa.column("end_cause", sa.String()),
)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _session_for_family(tokens: list[Any], now: datetime) -> dict[str, Any]:
    """A family is live while it holds a token that is unused, unrevoked and unexpired."""
    live = any(
        t.used_at is None and t.revoked_at is None and _utc(t.expires_at) > now for t in tokens
    )
    revoked = [_utc(t.revoked_at) for t in tokens if t.revoked_at is not None]
    ended_at = (
        None if live else max(revoked) if revoked else max(_utc(t.expires_at) for t in tokens)
    )
    return {
        "sid": secrets.token_urlsafe(16),
        "user_id": tokens[0].user_id,
        "created_at": min(_utc(t.issued_at) for t in tokens),
        "last_used_at": max(_utc(t.issued_at) for t in tokens),
        "expires_at": _utc(tokens[0].family_expires_at),
        "amr": "pwd",
        "ended_at": ended_at,
        "end_cause": None if live else "revoked" if revoked else "expired",
    }


def _families_become_sessions(connection: sa.Connection) -> None:
    now = datetime.now(UTC)
    families: dict[str, list[Any]] = {}
    for token in connection.execute(sa.select(_refresh_tokens).order_by(_refresh_tokens.c.id)):
        families.setdefault(token.family_id, []).append(token)
    if not families:
        return
    sessions = {family: _session_for_family(tokens, now) for family, tokens in families.items()}
    connection.execute(sa.insert(_sessions), list(sessions.values()))
    session_ids = dict(connection.execute(sa.select(_sessions.c.sid, _sessions.c.id)).all())
    connection.execute(
        sa.update(_refresh_tokens)
        .where(_refresh_tokens.c.family_id == sa.bindparam("family"))
        .values(session_id=sa.bindparam("session")),
        [
            {"family": family, "session": session_ids[session["sid"]]}
            for family, session in sessions.items()
        ],
    )


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "last_used_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=256), nullable=True),
        sa.Column("amr", sa.String(length=64), server_default="pwd", nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_cause", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("sid", name=op.f("uq_sessions_sid")),
    )
    op.create_index(op.f("ix_sessions_user_id"), "sessions", ["user_id"])
    op.create_index(op.f("ix_sessions_ended_at"), "sessions", ["ended_at"])
    op.add_column("users", sa.Column("tokens_valid_after", sa.DateTime(timezone=True)))
    op.create_index(op.f("ix_users_tokens_valid_after"), "users", ["tokens_valid_after"])
    op.add_column("refresh_tokens", sa.Column("session_id", sa.Integer(), nullable=True))
    _families_become_sessions(op.get_bind())
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.alter_column("session_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(
            batch.f("fk_refresh_tokens_session_id_sessions"),
            "sessions",
            ["session_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(batch.f("ix_refresh_tokens_session_id"), ["session_id"])
    if op.get_bind().dialect.name != "sqlite":  # SQLite's: see notes_api.sessions.sqlite_triggers
        for statement in POSTGRES_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for statement in POSTGRES_DROP:
            op.execute(statement)
    # Without sessions, a token is dead only if revoked: keep ended logins ended.
    ended = sa.select(_sessions.c.id).where(_sessions.c.ended_at.is_not(None))
    op.execute(
        sa.update(_refresh_tokens)
        .where(
            _refresh_tokens.c.revoked_at.is_(None),
            _refresh_tokens.c.session_id.in_(ended),
        )
        .values(revoked_at=datetime.now(UTC))
    )
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_index(batch.f("ix_refresh_tokens_session_id"))
        batch.drop_constraint(batch.f("fk_refresh_tokens_session_id_sessions"), type_="foreignkey")
        batch.drop_column("session_id")
    op.drop_index(op.f("ix_users_tokens_valid_after"), table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("tokens_valid_after")
    op.drop_index(op.f("ix_sessions_ended_at"), table_name="sessions")
    op.drop_index(op.f("ix_sessions_user_id"), table_name="sessions")
    op.drop_table("sessions")
