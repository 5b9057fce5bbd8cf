"""The `notes-api` command: how `serve` starts uvicorn."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from notes_api.cli import cli
from notes_api.config import get_settings

runner = CliRunner()


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
