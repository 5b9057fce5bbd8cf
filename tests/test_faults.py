"""Database faults: outages, killed connections, and concurrent writers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, TextClause, text
from sqlalchemy.engine import make_url

from notes_api.main import create_app
from tests.conftest import DEFAULT_PASSWORD, MakeUser, bearer, login, make_settings
from tests.databases import POSTGRES_URL, sync_engine
from tests.sessions.waiting import eventually
from tests.tcp_proxy import TcpProxy


def postgres_only(test: Callable[..., None]) -> Callable[..., None]:
    """Run on PostgreSQL only (the faults need a server); CI always sets TEST_DATABASE_URL."""
    test = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)(test)
    return pytest.mark.skipif(POSTGRES_URL is None, reason="needs TEST_DATABASE_URL")(test)


@pytest.fixture
def proxy(database_url: str) -> Iterator[TcpProxy]:
    url = make_url(database_url)
    tcp = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    tcp.start()
    yield tcp
    tcp.stop()


@postgres_only
def test_service_answers_503_during_an_outage_and_recovers_by_itself(
    proxy: TcpProxy, database_url: str, make_user: MakeUser
) -> None:
    user = make_user()
    proxied = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    app = create_app(make_settings(proxied.render_as_string(hide_password=False)))
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = bearer(login(client, user.username)["access_token"])
        assert client.get("/notes", headers=headers).status_code == 200

        proxy.stop()
        down = client.get("/notes", headers=headers)
        assert down.status_code == 503
        assert down.json() == {"detail": "The database is unavailable; try again shortly."}
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200

        proxy.start()
        # Access tokens wait for the revocation listener to reconnect and reload.
        assert eventually(lambda: client.get("/notes", headers=headers).status_code == 200)
        assert client.get("/readyz").status_code == 200


@postgres_only
def test_killed_connections_are_replaced_without_errors(
    client: TestClient, make_user: MakeUser, database_url: str
) -> None:
    user = make_user()
    headers = bearer(login(client, user.username)["access_token"])
    assert client.post("/notes", headers=headers, json={"title": "before"}).status_code == 201
    note = client.get("/notes", headers=headers).json()["items"][0]["id"]
    assert client.get(f"/notes/{note}", headers=headers).status_code == 200
    assert _kill_client_connections(database_url)
    assert client.get("/notes", headers=headers).status_code == 200
    assert client.get(f"/notes/{note}", headers=headers).status_code == 200
    assert client.post("/notes", headers=headers, json={"title": "after"}).status_code == 201
    assert (
        client.post(
            "/token", data={"username": user.username, "password": DEFAULT_PASSWORD}
        ).status_code
        == 200
    )


@postgres_only
def test_connections_killed_under_concurrent_reads_cost_no_request(
    client: TestClient, make_user: MakeUser, database_url: str
) -> None:
    """Every connection dies while eight clients read: reads in flight on one, and reads
    that meet a dead pooled one, run again on a new connection. No request fails."""
    headers = bearer(login(client, make_user().username)["access_token"])
    assert client.post("/notes", headers=headers, json={"title": "n"}).status_code == 201
    done = threading.Semaphore(0)

    def read(_: int) -> list[int]:
        statuses = []
        for _ in range(30):
            statuses.append(client.get("/notes", headers=headers).status_code)
            done.release()
        return statuses

    with ThreadPoolExecutor(max_workers=8) as pool:
        readers = [pool.submit(read, index) for index in range(8)]
        for _ in range(40):  # well under way: connections pooled, some reads in flight
            assert done.acquire(timeout=30), "the readers stopped"
        assert _kill_client_connections(database_url)
        statuses = [status for reader in readers for status in reader.result(timeout=60)]
    assert statuses == [200] * 240


@postgres_only
def test_a_read_whose_connection_dies_mid_query_runs_again(
    client: TestClient, make_user: MakeUser, database_url: str
) -> None:
    headers = bearer(login(client, make_user().username)["access_token"])
    assert client.get("/notes", headers=headers).status_code == 200
    waiting_on_the_lock = text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE '%FROM notes%' AND pid <> :killed"
    )
    with sync_engine(database_url) as engine, engine.connect() as locker:
        # Another connection watches: pg_stat_activity stands still within a transaction.
        watcher = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        locker.execute(text("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE"))  # reads now wait
        with watcher, ThreadPoolExecutor(max_workers=1) as pool:
            answer = pool.submit(client.get, "/notes", headers=headers)
            try:
                first = _wait_for(watcher, waiting_on_the_lock, killed=0)
                watcher.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
                # The killed backend may still be listed for a moment: wait for another.
                _wait_for(watcher, waiting_on_the_lock, killed=first)  # run again, elsewhere
            finally:
                locker.rollback()  # the lock goes, whatever happened: the read can finish
            assert answer.result(timeout=30).status_code == 200


def _wait_for(connection: Connection, query: TextClause, *, killed: int) -> int:
    for _ in range(1000):
        pid = connection.execute(query, {"killed": killed}).scalar()
        if pid is not None:
            return int(pid)
        time.sleep(0.01)
    raise AssertionError("nothing came to wait on the lock")


def _kill_client_connections(database_url: str) -> int:
    """Terminate every other client connection to the database; how many there were."""
    with sync_engine(database_url) as engine, engine.connect() as connection:
        killed = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )
        ).scalar()
    return int(killed or 0)


def test_sixteen_concurrent_writers_all_succeed(client: TestClient, make_user: MakeUser) -> None:
    """On SQLite too: writers wait for the lock (BEGIN IMMEDIATE, busy timeout), never fail."""
    headers = bearer(login(client, make_user().username)["access_token"])

    def write(index: int) -> int:
        return client.post("/notes", headers=headers, json={"title": f"n{index}"}).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(write, range(64)))
    assert statuses == [201] * 64
    listed = client.get("/notes", headers=headers, params={"limit": 100}).json()["items"]
    assert len(listed) == 64


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_the_notes_reads_go_on_while_a_writer_holds_the_lock(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """In WAL mode a reader needs no lock a writer holds; the notes reads must not take
    the writers' lock (BEGIN IMMEDIATE) either, or every read queues behind every write."""
    headers = bearer(login(client, make_user().username)["access_token"])
    note = client.post("/notes", headers=headers, json={"title": "kept"}).json()
    with db_engine.connect() as writer:
        writer.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            listed = client.get("/notes", headers=headers)
            one = client.get(f"/notes/{note['id']}", headers=headers)
        finally:
            writer.exec_driver_sql("ROLLBACK")
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [note["id"]]
    assert one.status_code == 200
    assert one.json()["title"] == "kept"


@postgres_only
def test_a_read_connection_that_fails_its_set_up_answers_503_and_is_closed(
    client: TestClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = bearer(login(client, make_user().username)["access_token"])
    opened: list[psycopg.AsyncConnection[Any]] = []
    execute = psycopg.AsyncConnection.execute

    async def failing_set_up(
        connection: psycopg.AsyncConnection[Any], query: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if query == "SET TIME ZONE 'UTC'":
            opened.append(connection)
            raise psycopg.OperationalError("the server went away during set-up")
        return await execute(connection, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "execute", failing_set_up)
    assert client.get("/notes", headers=headers).status_code == 503
    assert opened, "the read opened no connection of its own"
    assert all(connection.closed for connection in opened)  # not left for the GC to find


@postgres_only
def test_a_read_still_running_when_the_reader_closes_closes_its_connection(
    client: TestClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app stops (its reader closes) while a read is in flight: the read's connection
    is closed when the read ends, not handed back to a reader nobody will close again."""
    headers = bearer(login(client, make_user().username)["access_token"])
    reader = client.app.state.reader  # type: ignore[attr-defined]
    used: list[psycopg.AsyncConnection[Any]] = []
    execute = psycopg.AsyncConnection.execute

    async def closing_the_reader_mid_read(
        connection: psycopg.AsyncConnection[Any], query: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if isinstance(query, str) and "FROM notes" in query and not used:
            used.append(connection)
            await reader.close()
        return await execute(connection, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "execute", closing_the_reader_mid_read)
    assert client.get("/notes", headers=headers).status_code == 200
    assert used, "the read ran on no connection of the reader's"
    assert all(connection.closed for connection in used)
