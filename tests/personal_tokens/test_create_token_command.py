"""`notes-api create-token`: how an operator gives a script its credential."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from notes_api.cli import cli
from notes_api.config import get_settings
from tests.conftest import MakeUser, bearer

runner = CliRunner()


@pytest.fixture(autouse=True)
def command_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_printed_token_works_with_the_roles_asked_for(
    client: TestClient, make_user: MakeUser
) -> None:
    user = make_user("prom", roles=["user", "admin"])

    result = runner.invoke(
        cli,
        [
            "create-token",
            "prom",
            "--name",
            "prometheus",
            "--roles",
            "user",
            "--expires-in-days",
            "7",
        ],
    )

    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("nap_")
    assert "roles: user" in result.stderr
    me = client.get("/identify/me", headers=bearer(token))
    assert me.json() == {"id": user.id, "username": "prom", "roles": ["user"]}


def test_roles_the_user_lacks_are_refused(make_user: MakeUser) -> None:
    make_user("prom", roles=["user"])

    result = runner.invoke(cli, ["create-token", "prom", "--name", "x", "--roles", "admin"])

    assert result.exit_code == 1
    assert "admin" in result.output
    assert "nap_" not in result.output


def test_mfa_required_roles_are_refused_on_the_command_line(
    make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("prom", roles=["user", "admin"])
    monkeypatch.setenv("MFA_REQUIRED_ROLES", "admin")

    result = runner.invoke(cli, ["create-token", "prom", "--name", "x", "--roles", "admin"])

    assert result.exit_code == 1
    assert "second factor" in result.output


def test_an_unknown_user_or_a_bad_lifetime_fails_in_one_line(make_user: MakeUser) -> None:
    make_user("prom")

    unknown = runner.invoke(cli, ["create-token", "nobody", "--name", "x"])
    too_long = runner.invoke(
        cli, ["create-token", "prom", "--name", "x", "--expires-in-days", "400"]
    )

    assert unknown.exit_code == too_long.exit_code == 1
    assert len(unknown.output.strip().splitlines()) == 1
    assert "expires_in_days" in too_long.output
