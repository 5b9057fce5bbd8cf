"""The `notes-api` command: how `serve` starts uvicorn, settings refusals, `ensure-admin`."""

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from notes_api.auth.passwords import verify_password
from notes_api.cli import cli
from notes_api.config import get_settings
from notes_api.server import (
    LIMIT_CONCURRENCY,
    WORKER_HEALTHCHECK_SECONDS,
    BoundedHttpToolsProtocol,
)
from notes_api.users.models import User

runner = CliRunner()
GOOD_KEY = secrets.token_hex(32)


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Settings from this test's environment only: no `.env` from the work tree, no cache."""
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_serve_runs_uvicorn_with_our_logging_proxy_and_shutdown_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append({"app": app, **kwargs}))
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8,192.168.1.10")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")

    result = runner.invoke(cli, ["serve", "--host", "127.0.0.2", "--port", "8123"])

    assert result.exit_code == 0, result.output
    (call,) = calls
    assert call["app"] == "notes_api.main:app"
    assert (call["host"], call["port"], call["workers"]) == ("127.0.0.2", 8123, 3)
    assert call["proxy_headers"] is True
    assert call["forwarded_allow_ips"] == ["10.0.0.0/8", "192.168.1.10"]
    assert call["access_log"] is False  # the application's middleware logs each request
    assert call["log_config"] is None  # uvicorn's lines go through our handler
    assert call["log_level"] == "warning"
    assert call["timeout_graceful_shutdown"] == 30
    assert call["timeout_worker_healthcheck"] == WORKER_HEALTHCHECK_SECONDS  # workers slow to start
    assert call["http"] is BoundedHttpToolsProtocol  # header size and time limits
    assert call["limit_concurrency"] == LIMIT_CONCURRENCY
    assert call["server_header"] is False


def test_a_refused_setting_is_one_line_without_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("CORS_ORIGINS", "*")

    result = runner.invoke(cli, ["migrate"])

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: invalid settings: CORS_ORIGINS=* is refused when APP_ENV=production"
    ]
    assert GOOD_KEY[:8] not in result.output


def ensure_admin(database_url: str, monkeypatch: pytest.MonkeyPatch, password: str) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = runner.invoke(cli, ["ensure-admin", "Root", "--password-stdin"], input=password + "\n")
    assert result.exit_code == 0, result.output
    assert password not in result.output
    return result.output.strip()


def test_ensure_admin_creates_the_administrator_once(
    database_url: str, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_password, second_password = secrets.token_urlsafe(16), secrets.token_urlsafe(16)

    created = ensure_admin(database_url, monkeypatch, first_password)
    again = ensure_admin(database_url, monkeypatch, second_password)

    assert created == "created administrator root with roles: admin,user"
    assert again == "user root already exists: left unchanged"
    with db_engine.connect() as connection:
        hashed = connection.execute(
            select(User.hashed_password).where(User.username == "root")
        ).scalar_one()
    assert verify_password(first_password, hashed)[0]
    assert not verify_password(second_password, hashed)[0]


def test_ensure_admin_refuses_a_short_password(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = runner.invoke(cli, ["ensure-admin", "root", "--password-stdin"], input="short\n")
    assert result.exit_code == 1
    assert "password:" in result.output
    assert "at least 8 characters" in result.output
    assert "short" not in result.output
