"""Fixtures: every database test runs once per database kind (sqlite, and postgresql when
TEST_DATABASE_URL is set), each on a clean database, through the real HTTP app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, make_url, select
from typer.testing import CliRunner, Result

from notes_api.auth.passwords import hash_password
from notes_api.cli import cli
from notes_api.config import Settings, get_settings
from notes_api.main import create_app
from notes_api.schema_migrations import upgrade_to_head
from notes_api.users.models import Role, User, user_roles
from tests.databases import (
    DATABASE_KINDS,
    POSTGRES_URL,
    empty_postgres,
    ensure_postgres_database,
    fresh_sqlite,
    migrated_sqlite_template,
    reset_postgres_schema,
    sync_engine,
)
from tests.mail_server import MailServer

if TYPE_CHECKING:
    import requests

pytest_plugins = ["tests.cut_off_report"]

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
DEFAULT_PASSWORD = "correct horse battery staple"


def pytest_sessionstart(session: pytest.Session) -> None:
    """TEST_DATABASE_URL naming a missing database: create it; an unusable server: stop
    now with one message (not an error in each of hundreds of tests)."""
    if POSTGRES_URL is not None and (problem := ensure_postgres_database(POSTGRES_URL)):
        safe = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        pytest.exit(f"TEST_DATABASE_URL={safe} cannot be used: {problem}", returncode=3)


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    """A real SMTP server (aiosmtpd) on a free loopback port, stopped after the test."""
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def default_password_hash() -> str:
    return hash_password(DEFAULT_PASSWORD)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def migrated_postgres() -> str:
    """The PostgreSQL test database, migrated once. Unreachable is an error, never a skip."""
    assert POSTGRES_URL is not None
    reset_postgres_schema(POSTGRES_URL)
    upgrade_to_head(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture(params=DATABASE_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database (but for the built-in roles) of the parametrized kind."""
    if request.param == "sqlite":
        return fresh_sqlite(request.getfixturevalue("sqlite_template"), tmp_path)
    url: str = request.getfixturevalue("migrated_postgres")
    empty_postgres(url)
    return url


@pytest.fixture(scope="session")
def openapi_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The OpenAPI document's `paths`, built once: it does not depend on the database."""
    database = tmp_path_factory.mktemp("openapi") / "unused.db"
    paths: dict[str, Any] = create_app(make_settings(f"sqlite:///{database}")).openapi()["paths"]
    return paths


DocumentedStatuses = Callable[[str, str], "set[int] | None"]


@pytest.fixture
def documented_statuses(openapi_paths: dict[str, Any]) -> DocumentedStatuses:
    """`documented_statuses("DELETE", "/account/sessions/{session_id}")`: the statuses the
    OpenAPI document lists for the operation (None: not in it)."""

    def statuses(method: str, path: str) -> set[int] | None:
        operation = openapi_paths.get(path, {}).get(method.lower())
        return None if operation is None else {int(status) for status in operation["responses"]}

    return statuses


@pytest.fixture
def db_engine(database_url: str) -> Iterator[Engine]:
    """A synchronous engine on the test database, for arranging rows and checking them."""
    with sync_engine(database_url) as engine:
        yield engine


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "jwt_secret_key": TEST_SECRET,
        "app_env": "development",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@dataclass
class TestUser:
    id: int
    username: str
    password: str = DEFAULT_PASSWORD
    roles: list[str] = field(default_factory=list)


MakeUser = Callable[..., TestUser]
Headers = Callable[..., dict[str, str]]
"""What `auth_headers` returns: `auth_headers(roles=[...])` -> an Authorization header."""


def insert_user(
    engine: Engine,
    username: str,
    hashed_password: str,
    roles: list[str] | tuple[str, ...] = ("user",),
    *,
    disabled: bool = False,
) -> TestUser:
    """Insert a user with the given roles in plain SQL, as an operator could."""
    with engine.begin() as connection:
        user_id = connection.execute(
            insert(User)
            .values(username=username, hashed_password=hashed_password, disabled=disabled)
            .returning(User.id)
        ).scalar_one()
        for role in roles:
            role_id = connection.execute(select(Role.id).where(Role.name == role)).scalar_one()
            connection.execute(insert(user_roles).values(user_id=user_id, role_id=role_id))
    return TestUser(id=user_id, username=username, roles=list(roles))


@pytest.fixture
def make_user(db_engine: Engine, default_password_hash: str) -> MakeUser:
    """`make_user(roles=["admin"])`: a new user, inserted in plain SQL."""
    counter = iter(range(1, 10_000))

    def make(
        username: str | None = None,
        roles: list[str] | tuple[str, ...] = ("user",),
        *,
        disabled: bool = False,
        hashed_password: str | None = None,
    ) -> TestUser:
        name = username or f"user{next(counter)}"
        password_hash = hashed_password or default_password_hash
        return insert_user(db_engine, name, password_hash, roles, disabled=disabled)

    return make


def login(
    client: TestClient | requests.Session, username: str, password: str = DEFAULT_PASSWORD
) -> dict[str, str]:
    """The password grant, which must succeed: the token pair. Also through a `requests`
    session, such as schemathesis' in-process ASGI client."""
    response = client.post("/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


def refresh(client: TestClient, refresh_token: str) -> dict[str, str]:
    """The refresh grant, which must succeed: the new pair."""
    response = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


def refresh_status(client: TestClient, refresh_token: str) -> int:
    return client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    ).status_code


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


@pytest.fixture
def auth_headers(client: TestClient, make_user: MakeUser) -> Callable[..., dict[str, str]]:
    """`auth_headers(roles=["admin"])`: a new user with those roles, logged in."""

    def headers(roles: list[str] | tuple[str, ...] = ("user",)) -> dict[str, str]:
        user = make_user(roles=roles)
        return bearer(login(client, user.username)["access_token"])

    return headers


@pytest.fixture
def lenient(app: FastAPI) -> Iterator[TestClient]:
    """A client that answers a server error with its 500 instead of raising it in the test."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


Invoke = Callable[..., Result]


@pytest.fixture
def invoke(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run `notes-api ARGS...` in-process with DATABASE_URL pointing at the test database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("APP_ENV", raising=False)

    def run(*args: str, stdin: str | None = None) -> Result:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli, list(args), input=stdin)
        finally:
            get_settings.cache_clear()

    return run
