"""Access logging: one line per request with its id, as JSON or text, never a secret."""

import io
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from notes_api.main import create_app
from notes_api.observability import AccessLogMiddleware, configure_logging, sane_request_id
from tests.conftest import DEFAULT_PASSWORD, MakeUser, bearer, make_settings
from tests.test_health import UNREACHABLE_POSTGRES

ServeWithLogs = Callable[..., tuple[TestClient, io.StringIO]]


@pytest.fixture
def serve_with_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServeWithLogs]:
    """Build the app (which configures logging) with stderr swapped for a buffer."""
    clients: list[TestClient] = []

    def serve(database_url: str, log_format: str) -> tuple[TestClient, io.StringIO]:
        output = io.StringIO()
        monkeypatch.setattr(sys, "stderr", output)
        client = TestClient(create_app(make_settings(database_url, log_format=log_format)))
        clients.append(client.__enter__())
        return client, output

    yield serve
    for client in clients:
        client.__exit__(None, None, None)


def access_lines(output: io.StringIO) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == "notes_api.access"]


def login_refresh_cycle(client: TestClient, username: str) -> list[str]:
    """Log in, refresh, call a protected route, log out; return every secret that was sent."""
    login = client.post(
        "/token",
        data={"username": username, "password": DEFAULT_PASSWORD},
        headers={"X-Request-ID": "login-attempt-1"},
    )
    assert login.status_code == 200
    first = login.json()
    refreshed = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert refreshed.status_code == 200
    second = refreshed.json()
    me = client.get("/identify/me", headers=bearer(second["access_token"]))
    assert me.status_code == 200
    revoked = client.post("/token/revoke", data={"token": second["refresh_token"]})
    assert revoked.status_code == 200
    queried = client.get(f"/healthz?access_token={second['access_token']}&password=hunter22")
    assert queried.status_code == 200
    return [
        DEFAULT_PASSWORD,
        "hunter22",
        first["access_token"],
        first["refresh_token"],
        second["access_token"],
        second["refresh_token"],
        "Bearer",
    ]


def test_json_access_lines_cover_a_login_refresh_cycle_without_secrets(
    serve_with_logs: ServeWithLogs, database_url: str, make_user: MakeUser
) -> None:
    client, output = serve_with_logs(database_url, "json")
    user = make_user()
    secrets_sent = login_refresh_cycle(client, user.username)

    lines = access_lines(output)
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("POST", "/token", 200),
        ("POST", "/token", 200),
        ("GET", "/identify/me", 200),
        ("POST", "/token/revoke", 200),
        ("GET", "/healthz", 200),
    ]
    assert lines[0]["request_id"] == "login-attempt-1"
    assert all(len(str(line["request_id"])) == 32 for line in lines[1:])
    assert all(isinstance(line["duration_ms"], float) for line in lines)
    assert all(line["level"] == "INFO" and line["client"] == "testclient" for line in lines)
    logged = output.getvalue()
    for secret in secrets_sent:
        assert secret not in logged
    assert "authorization" not in logged.lower()
    assert "?" not in logged


def test_text_access_lines_carry_the_request_id_without_secrets(
    serve_with_logs: ServeWithLogs, database_url: str, make_user: MakeUser
) -> None:
    client, output = serve_with_logs(database_url, "text")
    user = make_user()
    secrets_sent = login_refresh_cycle(client, user.username)

    lines = [line for line in output.getvalue().splitlines() if " notes_api.access " in line]
    assert len(lines) == 5
    assert re.fullmatch(
        r"\S+ INFO notes_api\.access POST /token 200 [\d.]+ms client=testclient "
        r"request_id=login-attempt-1 trace_id=[0-9a-f]{32} span_id=[0-9a-f]{16}",
        lines[0],
    )
    assert all("request_id=" in line and "ms client=testclient" in line for line in lines)
    for secret in secrets_sent:
        assert secret not in output.getvalue()


def test_the_request_id_is_echoed_in_the_response(
    serve_with_logs: ServeWithLogs, database_url: str
) -> None:
    client, output = serve_with_logs(database_url, "json")
    given = "trace-" + "x" * 122
    response = client.get("/healthz", headers={"X-Request-ID": given})
    assert response.headers["X-Request-ID"] == given
    assert access_lines(output)[-1]["request_id"] == given


@pytest.mark.parametrize(
    "unsafe",
    ["", "x" * 129, "two words", "tab\there", "caf\u00e9", "new\nline"],
)
def test_an_unsafe_request_id_is_replaced(unsafe: str) -> None:
    assert sane_request_id(unsafe.encode()) is None


def test_a_generated_request_id_is_returned_when_none_is_sent(
    serve_with_logs: ServeWithLogs, database_url: str
) -> None:
    client, output = serve_with_logs(database_url, "json")
    response = client.get("/healthz", headers={"X-Request-ID": "has space"})
    generated = response.headers["X-Request-ID"]
    assert len(generated) == 32
    assert generated != "has space"
    assert access_lines(output)[-1]["request_id"] == generated


def test_records_logged_while_serving_carry_the_request_id(
    serve_with_logs: ServeWithLogs,
) -> None:
    client, output = serve_with_logs(UNREACHABLE_POSTGRES, "json")
    response = client.post("/token", data={"username": "alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == 503
    request_id = response.headers["X-Request-ID"]
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    warning = next(line for line in lines if line["logger"] == "notes_api.errors")
    assert warning["level"] == "WARNING"
    assert warning["request_id"] == request_id
    assert access_lines(output)[-1]["status"] == 503
    assert DEFAULT_PASSWORD not in output.getvalue()


def test_an_exception_is_logged_as_a_500(caplog: pytest.LogCaptureFixture) -> None:
    async def boom(_request: Request) -> None:
        raise RuntimeError("boom")

    app = AccessLogMiddleware(Starlette(routes=[Route("/boom", boom)]))
    with (
        caplog.at_level(logging.INFO, logger="notes_api.access"),
        TestClient(app, raise_server_exceptions=False) as client,
    ):
        assert client.get("/boom").status_code == 500
    (record,) = [r for r in caplog.records if r.name == "notes_api.access"]
    assert record.status == 500  # type: ignore[attr-defined]
    assert record.path == "/boom"  # type: ignore[attr-defined]


def test_configure_logging_is_idempotent() -> None:
    configure_logging("WARNING", "json")
    configure_logging("DEBUG", "text")
    ours = [h for h in logging.getLogger().handlers if h.get_name() == "notes_api"]
    assert len(ours) == 1
    assert logging.getLogger("notes_api").level == logging.DEBUG
    assert logging.getLogger("uvicorn").level == logging.DEBUG
    assert logging.getLogger().level == logging.WARNING
