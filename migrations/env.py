"""Alembic environment: one code path for SQLite and PostgreSQL.

- The URL comes from `notes_api.config.Settings` (DATABASE_URL), mapped to the
  synchronous driver, unless the caller passes a connection in
  `config.attributes["connection"]` (tests and the CLI do).
- SQLite migrations run in batch mode with foreign keys OFF: batch mode
  recreates tables, and with foreign keys on, dropping the old `users` or
  `roles` table fires ON DELETE CASCADE and silently empties `user_roles`.
- SQLite's revocation triggers are dropped before the migrations and installed
  again after them (batch mode's table rebuilds would trip on them; see
  `notes_api.sessions.sqlite_triggers`).
- PostgreSQL migrations run under an advisory lock, so several containers that
  start at once migrate one after the other instead of racing.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool, text

from notes_api.config import get_settings
from notes_api.database import database_urls
from notes_api.models import Base
from notes_api.sessions.sqlite_triggers import drop_sqlite_triggers, install_sqlite_triggers

MIGRATION_LOCK_ID = 0x6E6F746573  # "notes": any constant shared by every instance

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    if is_sqlite:
        # Must run outside a transaction: SQLite ignores this PRAGMA inside one.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    else:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()
    try:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=is_sqlite,
            compare_type=True,
            # SQLite reflects an empty-string default as "''" and Alembic then reports a
            # false difference; PostgreSQL compares server defaults faithfully.
            compare_server_default=not is_sqlite,
        )
        with context.begin_transaction():
            if is_sqlite:
                drop_sqlite_triggers(connection)
            context.run_migrations()
            if is_sqlite:
                install_sqlite_triggers(connection)
        connection.commit()
    finally:
        if is_sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        else:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    url = database_urls(get_settings().database_url).sync_url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        run_migrations(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run `notes-api migrate`.")
run_migrations_online()
