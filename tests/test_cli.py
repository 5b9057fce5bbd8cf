"""The `notes-api` command against both databases, checked through SQL rows and HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from notes_api.cli import cli
from notes_api.config import get_settings
from notes_api.schema_migrations import alembic_config, downgrade_to, head_revision, upgrade_to_head
from tests.conftest import Invoke, bearer, login


def granted(engine: Engine, username: str) -> set[str]:
    with engine.connect() as connection:
        rows = connection.scalars(
            text(
                "SELECT r.name FROM user_roles ur JOIN users u ON u.id = ur.user_id "
                "JOIN roles r ON r.id = ur.role_id WHERE u.username = :name"
            ),
            {"name": username},
        )
        return set(rows)


def test_create_user_then_grant_writes_user_roles_rows(invoke: Invoke, db_engine: Engine) -> None:
    created = invoke(
        "create-user", "alice", "--roles", "user", "--password-stdin", stdin="a long password\n"
    )
    assert created.exit_code == 0, created.output
    assert granted(db_engine, "alice") == {"user"}
    assert invoke("grant", "alice", "admin").exit_code == 0
    assert granted(db_engine, "alice") == {"user", "admin"}


def test_revoke_deletes_the_row(invoke: Invoke, db_engine: Engine) -> None:
    invoke("create-user", "alice", "--roles", "user,admin", "--password-stdin", stdin="password1\n")
    invoke("create-user", "root", "--roles", "admin", "--password-stdin", stdin="password1\n")
    assert invoke("revoke", "alice", "admin").exit_code == 0
    assert granted(db_engine, "alice") == {"user"}


def test_roles_default_to_user_and_empty_means_none(invoke: Invoke, db_engine: Engine) -> None:
    invoke("create-user", "dflt", "--password-stdin", stdin="password1\n")
    invoke("create-user", "bare", "--roles", "", "--password-stdin", stdin="password1\n")
    assert granted(db_engine, "dflt") == {"user"}
    assert granted(db_engine, "bare") == set()


def test_password_prompt_asks_twice(invoke: Invoke, db_engine: Engine) -> None:
    result = invoke("create-user", "carol", stdin="password1\npassword1\n")
    assert result.exit_code == 0, result.output
    assert granted(db_engine, "carol") == {"user"}


def test_a_cli_user_can_log_in_over_http(invoke: Invoke, client: TestClient) -> None:
    invoke(
        "create-user",
        "dave",
        "--roles",
        "user,admin",
        "--password-stdin",
        stdin="dave's password\n",
    )
    tokens = login(client, "dave", "dave's password")
    me = client.get("/identify/me", headers=bearer(tokens["access_token"])).json()
    assert me["roles"] == ["admin", "user"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("grant", "ghost", "admin"), "No user named 'ghost'"),
        (("grant", "erin", "wizard"), "No role named 'wizard'"),
        (("revoke", "ghost", "user"), "No user named 'ghost'"),
        (("create-user", "erin", "--password-stdin"), "already taken"),
        (("create-user", "frank", "--roles", "wizard", "--password-stdin"), "No role named"),
        (("create-user", "Bad Name", "--password-stdin"), "username"),
    ],
)
def test_mistakes_exit_non_zero_with_a_clear_message(
    invoke: Invoke, args: tuple[str, ...], message: str
) -> None:
    invoke("create-user", "erin", "--password-stdin", stdin="password1\n")
    result = invoke(*args, stdin="password1\n")
    assert result.exit_code == 1
    assert message in result.output


def test_short_password_is_refused(invoke: Invoke) -> None:
    result = invoke("create-user", "gina", "--password-stdin", stdin="short\n")
    assert result.exit_code == 1
    assert "password" in result.output


def test_roles_and_users_list_what_the_database_holds(invoke: Invoke) -> None:
    invoke("create-user", "hank", "--roles", "admin", "--password-stdin", stdin="password1\n")
    assert invoke("roles").output.split("\n")[0].startswith("admin\t")
    assert "hank\tenabled\tadmin" in invoke("users").output


def test_demo_users_are_created_once_and_their_passwords_shown_once(
    invoke: Invoke, client: TestClient
) -> None:
    first = invoke("ensure-demo-users")
    # A failed run prints no "demo user created" line either: say why, not only "0 == 2".
    assert first.exit_code == 0, (first.output, repr(first.exception))
    lines = [line for line in first.output.splitlines() if "demo user created" in line]
    assert len(lines) == 2, first.output
    username, password = lines[0].split(": ", 1)[1].split("  ")[0].split(" / ")
    assert login(client, username, password)["access_token"]
    second = invoke("ensure-demo-users")
    assert second.exit_code == 0, (second.output, repr(second.exception))
    assert "demo user created" not in second.output


def test_unmigrated_database_asks_for_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["users"])
    get_settings.cache_clear()
    assert result.exit_code == 1
    assert "notes-api migrate" in result.output


def test_migrate_brings_a_new_database_to_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    result = runner.invoke(cli, ["roles"])
    get_settings.cache_clear()
    assert result.exit_code == 0
    assert "user" in result.output


def test_a_database_behind_the_code_asks_for_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgraded notes-api on a database migrated by the previous one."""
    database_url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade_to_head(database_url)
    head = ScriptDirectory.from_config(alembic_config()).get_revision(head_revision())
    previous = str(head.down_revision)
    downgrade_to(database_url, previous)
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["users"])
    get_settings.cache_clear()

    assert result.exit_code == 1
    assert result.output == (
        f"error: the database schema is not up to date (revision {previous}): "
        "run `notes-api migrate`\n"
    )
