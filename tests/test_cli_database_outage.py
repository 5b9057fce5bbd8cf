"""The command line against a database it cannot reach: one line naming the cause, exit
status 1, never a traceback; `serve` warns and starts anyway (the database may come up)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner, Result

from notes_api.cli import cli
from notes_api.config import get_settings
from tests.conftest import TEST_SECRET
from tests.servers import free_port


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("APP_ENV", raising=False)
    monkeypatch.setenv("JWT_SECRET_KEY", TEST_SECRET)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(
    params=["postgresql", "sqlite"],
    ids=["postgresql-nothing-listens", "sqlite-missing-directory"],
)
def unreachable(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """DATABASE_URL naming a database nobody can open: a port where nothing listens, or a
    SQLite file in a directory that does not exist."""
    if request.param == "postgresql":
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/notes"
    else:
        url = f"sqlite:///{tmp_path / 'no-such-directory' / 'notes.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def one_error_line(result: Result) -> str:
    assert isinstance(result.exception, SystemExit), result.exception  # not a traceback
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_migrate_against_an_unreachable_database_is_one_line(unreachable: str) -> None:
    result = CliRunner().invoke(cli, ["migrate"])

    assert one_error_line(result).startswith("error: cannot reach the database: ")


def test_ensure_admin_against_an_unreachable_database_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL only: after a failed SQLite connect, aiosqlite (0.22) may post its
    close to an event loop already closed, an exception in its worker thread that pytest
    reports under whichever test runs next."""
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/notes"
    )

    result = CliRunner().invoke(
        cli, ["ensure-admin", "root", "--password-stdin"], input="password1\n"
    )

    assert one_error_line(result).startswith("error: cannot reach the database: ")


def test_serve_against_an_unreachable_database_warns_and_starts(
    unreachable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.append(kwargs))

    result = CliRunner().invoke(cli, ["serve"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("warning: cannot reach the database: ")
    assert len(served) == 1
