"""The SQLite half of the revocation triggers, kept by migrations/env.py, not by a revision.

A role row deleted or a user disabled must set `users.tokens_valid_after`, and
a user deleted must leave a row in `user_deletions`, however the change is
made, plain SQL included, so it is done by triggers.
On SQLite, Alembic's batch mode rebuilds a table by creating a copy, dropping
the original and renaming the copy; a trigger that names `users` makes that
rename fail, and the triggers on the dropped table vanish with it. So the
migration environment drops these triggers before any SQLite migration runs
and installs them again afterwards, once the schema has the column they set.
(PostgreSQL never rebuilds tables: its triggers live in revision 0006_sessions.)
"""

from __future__ import annotations

from sqlalchemy import Connection, text

# SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC here); %f gives
# seconds with milliseconds, so three more zeros make the microseconds it reads back.
TRIGGERS = {
    "user_roles_deleted_cut_off_tokens": """
        CREATE TRIGGER IF NOT EXISTS user_roles_deleted_cut_off_tokens
        AFTER DELETE ON user_roles FOR EACH ROW BEGIN
            UPDATE users SET tokens_valid_after = strftime('%Y-%m-%d %H:%M:%f000', 'now')
            WHERE id = OLD.user_id;
        END
    """,
    "users_disabled_cut_off_tokens": """
        CREATE TRIGGER IF NOT EXISTS users_disabled_cut_off_tokens
        AFTER UPDATE OF disabled ON users FOR EACH ROW WHEN NEW.disabled AND NOT OLD.disabled
        BEGIN
            UPDATE users SET tokens_valid_after = strftime('%Y-%m-%d %H:%M:%f000', 'now')
            WHERE id = NEW.id;
        END
    """,
    "users_deleted_cut_off_tokens": """
        CREATE TRIGGER IF NOT EXISTS users_deleted_cut_off_tokens
        AFTER DELETE ON users FOR EACH ROW BEGIN
            INSERT INTO user_deletions (user_id, deleted_at)
            VALUES (OLD.id, strftime('%Y-%m-%d %H:%M:%f000', 'now'));
        END
    """,
}
NEEDS_TABLE = {"users_deleted_cut_off_tokens": "user_deletions"}
"""Triggers that write to a table of a later revision than 0006_sessions."""


def drop_sqlite_triggers(connection: Connection) -> None:
    for name in TRIGGERS:
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")


def install_sqlite_triggers(connection: Connection) -> None:
    """Install the triggers the schema has what for: `users.tokens_valid_after` (revision
    0006_sessions or later) and `user_deletions` (0012_user_deletions or later)."""
    columns = {row[1] for row in connection.execute(text("PRAGMA table_info(users)"))}
    if "tokens_valid_after" not in columns:
        return
    tables = {row[0] for row in connection.execute(text("SELECT name FROM sqlite_master"))}
    for name, statement in TRIGGERS.items():
        if NEEDS_TABLE.get(name, "users") in tables:
            connection.exec_driver_sql(statement)
