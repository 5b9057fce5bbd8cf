"""Two server processes on one database: a revocation made through one, or in plain SQL,
is refused by the other too; the PostgreSQL listener survives being killed or cut off."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import httpx2
import pytest
from sqlalchemy import DateTime, Engine, bindparam, text
from sqlalchemy.engine import make_url

from notes_api.clock import utcnow
from notes_api.database import database_urls
from notes_api.sessions.revocation_feed import LISTENER_NAME
from tests.conftest import DEFAULT_PASSWORD, TEST_SECRET, MakeUser
from tests.databases import POSTGRES_URL
from tests.servers import running_server
from tests.sessions.waiting import eventually
from tests.tcp_proxy import TcpProxy

postgres_only = pytest.mark.skipif(POSTGRES_URL is None, reason="needs TEST_DATABASE_URL")
on_postgres = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": TEST_SECRET,
        "APP_ENV": "development",
        **extra,
    }


@pytest.fixture
def two_servers(database_url: str) -> Iterator[tuple[str, str]]:
    env = server_env(database_url)
    with running_server(env) as first, running_server(env) as second:
        yield first, second


def login(base_url: str, username: str) -> dict[str, str]:
    response = httpx2.post(
        f"{base_url}/token", data={"username": username, "password": DEFAULT_PASSWORD}, timeout=10
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


def me(base_url: str, access_token: str) -> int:
    headers = {"Authorization": f"Bearer {access_token}"}
    return httpx2.get(f"{base_url}/identify/me", headers=headers, timeout=10).status_code


def logout(base_url: str, refresh_token: str) -> None:
    response = httpx2.post(f"{base_url}/token/revoke", data={"token": refresh_token}, timeout=10)
    assert response.status_code == 200


def delete_role_row(engine: Engine, user_id: int, role: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "DELETE FROM user_roles WHERE user_id = :id"
                " AND role_id = (SELECT id FROM roles WHERE name = :role)"
            ),
            {"id": user_id, "role": role},
        )


def test_logout_through_one_worker_is_refused_by_the_other(
    two_servers: tuple[str, str], make_user: MakeUser
) -> None:
    first, second = two_servers
    tokens = login(first, make_user().username)
    assert me(second, tokens["access_token"]) == 200
    logout(first, tokens["refresh_token"])
    assert eventually(lambda: me(second, tokens["access_token"]) == 401)
    assert eventually(lambda: me(first, tokens["access_token"]) == 401)


def test_a_role_row_deleted_in_plain_sql_is_refused_by_every_worker(
    two_servers: tuple[str, str], make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user(roles=["user", "admin"])
    tokens = login(two_servers[0], user.username)
    delete_role_row(db_engine, user.id, "admin")
    for server in two_servers:
        assert eventually(lambda server=server: me(server, tokens["access_token"]) == 401)


def _kill_listeners(engine: Engine) -> int:
    with engine.connect() as connection:
        killed = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = :name"
            ),
            {"name": LISTENER_NAME},
        ).scalar()
    return int(killed or 0)


@postgres_only
@on_postgres
def test_revocations_made_while_the_listeners_were_killed_bite_after_they_reconnect(
    two_servers: tuple[str, str], make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user(roles=["user", "admin"])
    survivor = login(two_servers[0], make_user().username)
    ending = login(two_servers[0], user.username)
    demoted = login(two_servers[1], user.username)
    assert _kill_listeners(db_engine) == 2
    # Made right away, while the listeners are down or reconnecting, and killed again:
    logout(two_servers[1], ending["refresh_token"])
    delete_role_row(db_engine, user.id, "admin")
    _kill_listeners(db_engine)
    for server in two_servers:
        assert eventually(lambda server=server: me(server, ending["access_token"]) == 401)
        assert eventually(lambda server=server: me(server, demoted["access_token"]) == 401)
        assert eventually(lambda server=server: me(server, survivor["access_token"]) == 200)


@pytest.fixture
def listen_proxy(database_url: str) -> Iterator[TcpProxy]:
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    yield proxy
    proxy.stop()


@postgres_only
@on_postgres
def test_a_worker_cut_off_from_its_listener_refuses_tokens_until_it_has_reloaded(
    database_url: str, listen_proxy: TcpProxy, make_user: MakeUser, db_engine: Engine
) -> None:
    """DATABASE_LISTEN_URL goes through a proxy we cut: requests still reach the database,
    but the worker can no longer tell which tokens were revoked, so it refuses them (503),
    and after the listener is back, a revocation made meanwhile is in force."""
    listen_url = make_url(database_url).set(host="127.0.0.1", port=listen_proxy.port)
    env = server_env(database_url, DATABASE_LISTEN_URL=listen_url.render_as_string(False))
    user = make_user()
    with running_server(env) as server:
        kept, ended = login(server, user.username), login(server, user.username)
        listen_proxy.stop()
        assert eventually(lambda: me(server, kept["access_token"]) == 503)
        logout(server, ended["refresh_token"])  # the database itself is reachable
        login(server, user.username)
        listen_proxy.start()
        assert eventually(lambda: me(server, kept["access_token"]) == 200)
        assert me(server, ended["access_token"]) == 401


FLOOD = 20_000


def database_now(database_url: str) -> str:
    """The database's own clock in SQL, as a trigger reads it (the SQLite feed relies on a
    time recorded while its writer holds the write lock)."""
    if database_urls(database_url).is_sqlite:
        return "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
    return "now()"


def test_a_flood_of_revocations_does_not_stall_requests(
    two_servers: tuple[str, str], make_user: MakeUser, db_engine: Engine, database_url: str
) -> None:
    """Thousands of sessions ended by one statement: every request keeps its answer (no
    503 while a worker catches up), and the flood is applied (one of them is refused)."""
    tokens = login(two_servers[0], make_user().username)
    flooded_user = make_user()
    flooded = login(two_servers[0], flooded_user.username)
    expires = bindparam("expires", utcnow() + timedelta(days=1), type_=DateTime(timezone=True))
    with db_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sessions (sid, user_id, expires_at) WITH RECURSIVE g(n) AS"
                f" (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {FLOOD})"
                " SELECT 'flood' || n, :id, :expires FROM g"
            ).bindparams(expires),
            {"id": flooded_user.id},
        )
    with db_engine.begin() as connection:
        connection.execute(
            text(
                f"UPDATE sessions SET ended_at = {database_now(database_url)}, end_cause = 'x'"
                " WHERE user_id = :id"
            ),
            {"id": flooded_user.id},
        )
    answers = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        answers.extend(me(server, tokens["access_token"]) for server in two_servers)
    assert set(answers) == {200}
    assert [me(server, flooded["access_token"]) for server in two_servers] == [401, 401]
