"""Test databases: a migrated SQLite file per test, and the PostgreSQL at TEST_DATABASE_URL.

PostgreSQL is migrated once per session and emptied before each test (fast
TRUNCATE); SQLite gets a fresh copy of a migrated template file per test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, make_url, pool, text
from sqlalchemy.pool import ConnectionPoolEntry

from notes_api.auth.roles import BUILTIN_ROLES
from notes_api.database import SQLITE_BUSY_TIMEOUT_SECONDS, database_urls
from notes_api.models import Base
from notes_api.schema_migrations import upgrade_to_head


def own_database(url: str | None) -> str | None:
    """TEST_DATABASE_URL, or under pytest-xdist this worker's own database beside it
    (`test` -> `test_gw0`): workers empty and migrate their database between tests."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if url is None or worker is None:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


POSTGRES_URL = own_database(os.environ.get("TEST_DATABASE_URL") or None)
DATABASE_KINDS = [
    "sqlite",
    # Without TEST_DATABASE_URL the PostgreSQL half of the suite shows as skipped, with
    # the reason, rather than vanishing from the count.
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(POSTGRES_URL is None, reason="TEST_DATABASE_URL is not set"),
    ),
]


def enable_sqlite_foreign_keys(engine: Engine) -> None:
    """Arranging and checking rows must honour ON DELETE CASCADE and wait for the lock,
    like the application's own connections."""

    def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=ON")
        dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")

    if engine.url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", on_connect)


@contextmanager
def sync_engine(url: str) -> Iterator[Engine]:
    engine = create_engine(database_urls(url).sync_url, poolclass=pool.NullPool)
    enable_sqlite_foreign_keys(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def reset_postgres_schema(url: str) -> None:
    """Drop everything in the public schema: a clean slate for migration tests."""
    with sync_engine(url) as engine, engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


def migrated_sqlite_template(directory: Path) -> Path:
    template = directory / "template.db"
    upgrade_to_head(f"sqlite:///{template}")
    return template


def fresh_sqlite(template: Path, directory: Path) -> str:
    target = directory / "notes.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def empty_postgres(url: str) -> None:
    """Delete every row a test may have written; keep the schema and the built-in roles."""
    tables = [t.name for t in Base.metadata.sorted_tables if t.name != "roles"]
    builtin = ", ".join(f"'{name}'" for name in BUILTIN_ROLES)
    with sync_engine(url) as engine, engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        connection.execute(text(f"DELETE FROM roles WHERE name NOT IN ({builtin})"))


def ensure_postgres_database(url: str) -> str | None:
    """Create TEST_DATABASE_URL's database if the server lacks it; return why the server
    cannot be used, or None. Run once before the tests, so a wrong URL costs one message
    instead of an error in every PostgreSQL test."""
    import psycopg  # only when PostgreSQL is asked for

    target = make_url(url).set(drivername="postgresql")
    try:
        psycopg.connect(target.render_as_string(hide_password=False), connect_timeout=5).close()
        return None
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if f'database "{target.database}" does not exist' not in reason:
            return reason
    maintenance = target.set(database="postgres").render_as_string(hide_password=False)
    try:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
            connection.execute(
                psycopg.sql.SQL("CREATE DATABASE {}").format(
                    psycopg.sql.Identifier(target.database)
                )
            )
    except psycopg.Error as exc:
        return f"database {target.database!r} does not exist and cannot be created: {exc}"
    return None
