"""Client addresses from trusted proxies (issue 14 item 9): canonical, bounded, quoted in
logs; and no 500 that bypasses the security headers or leaves a login attempt pending."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.exc import DataError

from notes_api.audit.models import AuditEvent
from notes_api.main import create_app
from notes_api.security_headers import DEFAULT_HEADERS
from notes_api.throttling import throttle
from notes_api.throttling.models import LoginAttempt
from tests.conftest import DEFAULT_PASSWORD, TEST_SECRET, MakeUser, make_settings
from tests.servers import running_server

LONG_SCOPED_IPV6 = "fe80::1%" + "e" * 64
"""72 characters: more than the 45 an address column holds."""


@pytest.fixture
def server(database_url: str) -> Iterator[str]:
    """`notes-api serve`, trusting X-Forwarded-For from 127.0.0.1 (the default), as behind
    a proxy that forwards whatever the client wrote."""
    env = {"DATABASE_URL": database_url, "JWT_SECRET_KEY": TEST_SECRET, "APP_ENV": "development"}
    with running_server(env) as base_url:
        yield base_url


def login_from(server: str, forwarded_for: str, username: str) -> httpx2.Response:
    return httpx2.post(
        f"{server}/token",
        data={"username": username, "password": "wrong-password"},
        headers={"X-Forwarded-For": forwarded_for},
        timeout=30,
    )


def rows(engine: Engine) -> tuple[list[tuple[str, bool]], list[str | None]]:
    """(login attempts as (bucket, pending), audited client addresses)."""
    with engine.connect() as connection:
        attempts = connection.execute(select(LoginAttempt.client_ip, LoginAttempt.pending)).all()
        audited = connection.scalars(select(AuditEvent.client_ip)).all()
    return [tuple(row) for row in attempts], list(audited)  # type: ignore[misc]


def assert_has_every_header(response: httpx2.Response) -> None:
    for name, value in DEFAULT_HEADERS.items():
        assert response.headers[name] == value
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    "forwarded_for",
    [LONG_SCOPED_IPV6, "010.001.002.001", "203.0.113.9 forged=yes", "not-an-address"],
    ids=["72-char-scoped-ipv6", "leading-zeros", "with-a-space", "a-name"],
)
def test_a_forwarded_value_that_is_no_address_is_refused_and_counted_nowhere(
    server: str, db_engine: Engine, make_user: MakeUser, forwarded_for: str
) -> None:
    """The attacks: a 72-character scoped address overflowed a 45-character column on
    PostgreSQL (a 500 without security headers, the attempt left pending), and every
    unparseable value (`010.001.002.001`: octal or decimal?) shared one bucket."""
    user = make_user()
    response = login_from(server, forwarded_for, user.username)
    assert response.status_code == 400
    assert response.json() == {"detail": "The forwarded client address is not an IP address"}
    assert_has_every_header(response)
    assert rows(db_engine) == ([], [])


@pytest.mark.parametrize(
    ("forwarded_for", "canonical", "bucket"),
    [
        ("::ffff:203.0.113.9", "203.0.113.9", "203.0.113.9"),
        ("fe80::1%eth0", "fe80::1", "fe80::/64"),
        ("2001:DB8:0:0::1", "2001:db8::1", "2001:db8::/64"),
    ],
)
def test_forwarded_addresses_are_stored_in_one_canonical_spelling(
    server: str,
    db_engine: Engine,
    make_user: MakeUser,
    forwarded_for: str,
    canonical: str,
    bucket: str,
) -> None:
    user = make_user()
    assert login_from(server, forwarded_for, user.username).status_code == 400
    assert rows(db_engine) == ([(bucket, False)], [canonical])


def test_a_client_address_cannot_forge_fields_in_the_text_access_log(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What uvicorn puts in the scope from X-Forwarded-For, spaces and all."""
    output = io.StringIO()
    monkeypatch.setattr(sys, "stderr", output)
    app = create_app(make_settings(database_url, log_format="text"))
    forged = "203.0.113.9 status=200 request_id=forged\nINFO notes_api.access GET /admin 200"
    with TestClient(app, client=(forged, 1)) as client:
        client.get("/healthz")
    (line,) = [line for line in output.getvalue().splitlines() if "notes_api.access" in line]
    assert " status=200" not in line
    assert "request_id=forged" not in line
    assert "client=203.0.113.9%20status%3D200%20request_id%3Dforged%0AINFO" in line


def test_a_database_error_is_a_json_500_with_every_header_and_no_attempt_left_pending(
    app: FastAPI, db_engine: Engine, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement the database refuses (here: a value too long for its column) mid-login,
    after the attempt was reserved and the password verified."""

    async def refused(*_args: object, **_kwargs: object) -> None:
        raise DataError("INSERT ...", {}, Exception("value too long for type character varying"))

    monkeypatch.setattr(throttle, "clear", refused)  # what a verified login writes first
    user = make_user()
    with TestClient(app, client=("203.0.113.9", 1), raise_server_exceptions=False) as client:
        response = client.post(
            "/token", data={"username": user.username, "password": DEFAULT_PASSWORD}
        )
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert "value too long" not in response.text
    assert_has_every_header(response)  # type: ignore[arg-type]
    assert rows(db_engine)[0] == [("203.0.113.9", False)]  # counted as a failure, not pending


def test_an_unexpected_error_is_a_json_500_with_every_header(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/explode", explode)
    with (
        caplog.at_level(logging.ERROR, logger="notes_api.errors"),
        TestClient(app, raise_server_exceptions=False) as client,
    ):
        response = client.get("/explode")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert_has_every_header(response)  # type: ignore[arg-type]
    assert any(record.exc_info for record in caplog.records)
