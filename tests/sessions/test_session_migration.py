"""The sessions migration upgrades a database holding refresh tokens without logging anyone out."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from notes_api.auth.tokens import hash_refresh_token
from notes_api.clock import utcnow
from notes_api.main import create_app
from notes_api.schema_migrations import (
    alembic_config,
    downgrade_to,
    migrations_directory,
    upgrade_to_head,
)
from notes_api.sessions.sqlite_triggers import TRIGGERS
from tests.conftest import make_settings
from tests.databases import DATABASE_KINDS, POSTGRES_URL, reset_postgres_schema, sync_engine
from tests.test_migrations import BATCH_REVISION

BEFORE_SESSIONS = "0005_login_attempts"


@pytest.fixture(params=DATABASE_KINDS)
def database_before_sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database migrated to the revision before sessions; PostgreSQL is left at head."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        assert POSTGRES_URL is not None
        url = POSTGRES_URL
        reset_postgres_schema(url)
    upgrade_to_head(url)
    downgrade_to(url, BEFORE_SESSIONS)
    yield url
    if request.param == "postgresql":
        reset_postgres_schema(url)
        upgrade_to_head(url)


def _insert_family(url: str, family: str, *tokens: tuple[str, dict[str, object]]) -> None:
    now = utcnow()
    with sync_engine(url) as engine, engine.begin() as connection:
        for raw, marks in tokens:
            connection.execute(
                text(
                    "INSERT INTO refresh_tokens (token_hash, user_id, family_id, issued_at,"
                    " expires_at, family_expires_at, used_at, revoked_at) VALUES (:hash, 1,"
                    " :family, :issued, :expires, :family_expires, :used, :revoked)"
                ),
                {
                    "hash": hash_refresh_token(raw),
                    "family": family,
                    "issued": now - timedelta(hours=1),
                    "expires": marks.get("expires", now + timedelta(days=1)),
                    "family_expires": now + timedelta(days=6),
                    "used": marks.get("used"),
                    "revoked": marks.get("revoked"),
                },
            )


def test_live_refresh_families_become_sessions_and_keep_working(
    database_before_sessions: str,
) -> None:
    url = database_before_sessions
    with sync_engine(url) as engine, engine.begin() as connection:
        connection.execute(
            text("INSERT INTO users (id, username, hashed_password) VALUES (1, 'ann', 'x')")
        )
    past = utcnow() - timedelta(minutes=5)
    _insert_family(url, "live", ("spent-token", {"used": past}), ("live-token", {}))
    _insert_family(url, "revoked", ("revoked-token", {"revoked": past}))
    _insert_family(url, "expired", ("expired-token", {"expires": past}))

    upgrade_to_head(url)

    with TestClient(create_app(make_settings(url))) as client:
        renewed = client.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": "live-token"}
        )
        assert renewed.status_code == 200, renewed.text
        claims = jwt.decode(renewed.json()["access_token"], options={"verify_signature": False})
        assert claims["amr"] == ["pwd"]
        for dead in ("revoked-token", "expired-token"):
            answer = client.post(
                "/token", data={"grant_type": "refresh_token", "refresh_token": dead}
            )
            assert answer.status_code == 400
    with sync_engine(url) as engine, engine.connect() as connection:
        sessions = connection.execute(text("SELECT sid, end_cause FROM sessions ORDER BY id")).all()
    assert [cause for _sid, cause in sessions] == [None, "revoked", "expired"]
    assert claims["sid"] == sessions[0][0]


def _sqlite_triggers(connection: Connection) -> set[str]:
    query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    return set(connection.scalars(text(query)))


def test_sqlite_triggers_survive_a_later_migration_that_rebuilds_users(tmp_path: Path) -> None:
    """Batch mode rebuilds `users`; the environment puts the revocation triggers back."""
    database = tmp_path / "rebuilt.db"
    upgrade_to_head(f"sqlite:///{database}")
    scripts = tmp_path / "migrations"
    shutil.copytree(migrations_directory(), scripts)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    (scripts / "versions" / "batch_probe.py").write_text(BATCH_REVISION.format(head=head))
    config = Config()
    config.set_main_option("script_location", str(scripts))
    with sync_engine(f"sqlite:///{database}") as engine, engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "batch_probe")
        assert _sqlite_triggers(connection) == set(TRIGGERS)
