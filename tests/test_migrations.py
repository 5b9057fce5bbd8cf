"""Migrations: round trip, no drift from the models, and SQLite batch-mode safety."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, String, text

from notes_api.models import Base
from notes_api.schema_migrations import (
    alembic_config,
    downgrade_to,
    migrations_directory,
    upgrade_to_head,
)
from notes_api.sessions.sqlite_triggers import drop_sqlite_triggers
from tests.databases import DATABASE_KINDS, POSTGRES_URL, reset_postgres_schema, sync_engine

BATCH_REVISION = """
from alembic import op
import sqlalchemy as sa

revision = "batch_probe"
down_revision = "{head}"


def upgrade():
    with op.batch_alter_table("users", recreate="always") as batch:
        batch.add_column(sa.Column("nickname", sa.String(40), nullable=True))


def downgrade():
    with op.batch_alter_table("users", recreate="always") as batch:
        batch.drop_column("nickname")
"""


@pytest.fixture(params=DATABASE_KINDS)
def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database; PostgreSQL is left migrated to head for the tests that follow."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    assert POSTGRES_URL is not None
    reset_postgres_schema(POSTGRES_URL)
    yield POSTGRES_URL
    reset_postgres_schema(POSTGRES_URL)
    upgrade_to_head(POSTGRES_URL)


def schema_drift(connection: Connection) -> list[object]:
    is_sqlite = connection.dialect.name == "sqlite"
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": not is_sqlite},
    )
    return list(compare_metadata(context, Base.metadata))


def table_names(url: str) -> set[str]:
    with sync_engine(url) as engine, engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        return set(connection.scalars(text(query)))


def test_upgrade_downgrade_upgrade_round_trip(blank_database_url: str) -> None:
    upgrade_to_head(blank_database_url)
    assert {"users", "roles", "user_roles", "notes", "refresh_tokens"} <= table_names(
        blank_database_url
    )
    downgrade_to(blank_database_url, "base")
    assert table_names(blank_database_url) <= {"alembic_version"}
    upgrade_to_head(blank_database_url)
    with sync_engine(blank_database_url) as engine, engine.connect() as connection:
        roles = set(connection.scalars(text("SELECT name FROM roles")))
    assert roles == {"admin", "user", "metrics"}


def test_models_and_migrations_agree(blank_database_url: str) -> None:
    upgrade_to_head(blank_database_url)
    with sync_engine(blank_database_url) as engine, engine.connect() as connection:
        assert schema_drift(connection) == []


def test_renaming_login_failures_to_login_attempts_keeps_the_rows(blank_database_url: str) -> None:
    row = "('victim', '203.0.113.7', '2026-11-25 12:00:00+00:00', false)"
    columns = "(username, client_ip, failed_at, pending)"
    with sync_engine(blank_database_url) as engine, engine.connect() as connection:
        command.upgrade(alembic_config(connection), "0004")
        connection.execute(text(f"INSERT INTO login_failures {columns} VALUES {row}"))
        connection.commit()
    upgrade_to_head(blank_database_url)
    with sync_engine(blank_database_url) as engine, engine.connect() as connection:
        kept = connection.execute(text("SELECT username, client_ip FROM login_attempts")).all()
        assert schema_drift(connection) == []
    assert [tuple(kept_row) for kept_row in kept] == [("victim", "203.0.113.7")]
    downgrade_to(blank_database_url, "0004")
    assert "login_failures" in table_names(blank_database_url)


def _migrated_with_roles(database: Path) -> None:
    """A migrated SQLite file with two users holding the three built-in roles (6 user_roles)."""
    upgrade_to_head(f"sqlite:///{database}")
    with sync_engine(f"sqlite:///{database}") as engine, engine.begin() as connection:
        connection.execute(
            text("INSERT INTO users (username, hashed_password) VALUES ('ann', 'x'), ('ben', 'x')")
        )
        connection.execute(
            text(
                "INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u, roles r"
            )
        )


def _user_roles_count(connection: Connection) -> int:
    return int(connection.scalar(text("SELECT count(*) FROM user_roles")) or 0)


def test_sqlite_batch_migration_keeps_user_roles(tmp_path: Path) -> None:
    """A migration that recreates `users`, run through migrations/env.py like any other."""
    database = tmp_path / "batch.db"
    _migrated_with_roles(database)
    scripts = tmp_path / "migrations"
    shutil.copytree(migrations_directory(), scripts)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    (scripts / "versions" / "batch_probe.py").write_text(BATCH_REVISION.format(head=head))
    config = Config()
    config.set_main_option("script_location", str(scripts))
    with sync_engine(f"sqlite:///{database}") as engine, engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "batch_probe")
        assert _user_roles_count(connection) == 6


def test_the_batch_trap_is_real_with_foreign_keys_on(tmp_path: Path) -> None:
    """Control: the same table rebuild on a connection with foreign keys on empties user_roles."""
    database = tmp_path / "trap.db"
    _migrated_with_roles(database)
    with sync_engine(f"sqlite:///{database}") as engine, engine.connect() as connection:
        drop_sqlite_triggers(connection)  # as migrations/env.py does
        context = MigrationContext.configure(connection, opts={"render_as_batch": True})
        operations = Operations(context)
        with (
            context.begin_transaction(),
            operations.batch_alter_table("users", recreate="always") as batch,
        ):
            batch.add_column(Column("nickname", String(40), nullable=True))
        connection.commit()
        assert _user_roles_count(connection) == 0


def test_a_metrics_role_created_before_it_was_built_in_is_kept_with_its_grants(
    blank_database_url: str,
) -> None:
    with sync_engine(blank_database_url) as engine, engine.connect() as connection:
        command.upgrade(alembic_config(connection), "0006_sessions")
        connection.execute(text("INSERT INTO roles (name, description) VALUES ('metrics', 'ours')"))
        connection.execute(text("INSERT INTO users (username, hashed_password) VALUES ('p', 'x')"))
        connection.execute(
            text(
                "INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u, roles r"
            )
        )
        connection.commit()
    upgrade_to_head(blank_database_url)
    with sync_engine(blank_database_url) as engine, engine.connect() as connection:
        roles = connection.execute(text("SELECT name, description FROM roles")).all()
        grants = connection.scalar(text("SELECT count(*) FROM user_roles"))
    assert sorted(tuple(role) for role in roles) == [
        ("admin", "Administers users and roles; sees every note"),
        ("metrics", "ours"),
        ("user", "Keeps notes"),
    ]
    assert grants == 3
