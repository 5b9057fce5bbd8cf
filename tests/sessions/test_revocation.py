"""Access tokens stop working when their session ends or their user's roles shrink."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from notes_api.auth.revocation_cache import RevocationCache
from notes_api.config import Settings
from notes_api.main import create_app
from notes_api.sessions import revocation_feed
from notes_api.sessions.revocation_feed import SqliteRevocationFeed
from tests.conftest import MakeUser, bearer, login, refresh
from tests.sessions.waiting import eventually


def status(client: TestClient, access_token: str, path: str = "/identify/me") -> int:
    return client.get(path, headers=bearer(access_token)).status_code


def refused(client: TestClient, access_token: str, path: str = "/identify/me") -> bool:
    response = client.get(path, headers=bearer(access_token))
    if response.status_code != 401:
        return False
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    return True


def test_logout_refuses_the_sessions_access_token(client: TestClient, make_user: MakeUser) -> None:
    tokens = login(client, make_user().username)
    assert status(client, tokens["access_token"]) == 200
    client.post("/token/revoke", data={"token": tokens["refresh_token"]})
    assert eventually(lambda: refused(client, tokens["access_token"]))


def test_logout_leaves_the_users_other_sessions_alone(
    client: TestClient, make_user: MakeUser
) -> None:
    user = make_user()
    leaving, staying = login(client, user.username), login(client, user.username)
    client.post("/token/revoke", data={"token": leaving["refresh_token"]})
    assert eventually(lambda: refused(client, leaving["access_token"]))
    assert status(client, staying["access_token"]) == 200


def test_every_access_token_of_the_session_is_refused_after_logout(
    client: TestClient, make_user: MakeUser
) -> None:
    first = login(client, make_user().username)
    second = refresh(client, first["refresh_token"])
    client.post("/token/revoke", data={"token": second["refresh_token"]})
    assert eventually(lambda: refused(client, first["access_token"]))
    assert refused(client, second["access_token"])


def test_refresh_reuse_refuses_the_sessions_access_tokens(
    client: TestClient, make_user: MakeUser
) -> None:
    stolen = login(client, make_user().username)
    thief = refresh(client, stolen["refresh_token"])
    reuse = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": stolen["refresh_token"]}
    )
    assert reuse.status_code == 400
    assert eventually(lambda: refused(client, thief["access_token"]))


def test_disabling_a_user_refuses_their_access_tokens(
    client: TestClient, make_user: MakeUser
) -> None:
    admin = bearer(login(client, make_user(roles=["admin"]).username)["access_token"])
    user = make_user()
    tokens = login(client, user.username)
    assert client.patch(f"/users/{user.id}", json={"disabled": True}, headers=admin).is_success
    assert eventually(lambda: refused(client, tokens["access_token"]))


def test_disabling_a_user_in_plain_sql_refuses_their_access_tokens(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user()
    tokens = login(client, user.username)
    with db_engine.begin() as connection:
        connection.execute(text("UPDATE users SET disabled = true WHERE id = :id"), {"id": user.id})
    assert eventually(lambda: refused(client, tokens["access_token"]))


def test_a_user_deleted_in_plain_sql_has_their_access_tokens_refused(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """Deleting the user deletes their role rows too: their tokens go like a role taken."""
    user = make_user(roles=["admin", "user"])
    tokens = login(client, user.username)
    with db_engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": user.id})
    assert eventually(lambda: refused(client, tokens["access_token"], "/users"))


def test_a_worker_started_after_a_user_was_deleted_refuses_their_tokens(
    client: TestClient, make_user: MakeUser, db_engine: Engine, settings: Settings
) -> None:
    """The deletion outlives the user's row: a worker loading the revocation set later
    (a restart, a new instance) knows of it too."""
    user = make_user(roles=["admin", "user"])
    tokens = login(client, user.username)
    with db_engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": user.id})
    with TestClient(create_app(settings)) as later_worker:
        assert refused(later_worker, tokens["access_token"], "/users")


def test_a_role_row_deleted_in_plain_sql_refuses_older_tokens_and_refresh_brings_new_roles(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user(roles=["user", "admin"])
    tokens = login(client, user.username)
    assert status(client, tokens["access_token"], "/users") == 200
    with db_engine.begin() as connection:
        connection.execute(
            text(
                "DELETE FROM user_roles WHERE user_id = :id"
                " AND role_id = (SELECT id FROM roles WHERE name = 'admin')"
            ),
            {"id": user.id},
        )
    assert eventually(lambda: refused(client, tokens["access_token"]))
    renewed = refresh(client, tokens["refresh_token"])  # the session survives
    me = client.get("/identify/me", headers=bearer(renewed["access_token"]))
    assert me.status_code == 200
    assert me.json()["roles"] == ["user"]
    assert status(client, renewed["access_token"], "/users") == 403


def test_revoking_a_role_through_the_api_refuses_older_tokens(
    client: TestClient, make_user: MakeUser
) -> None:
    admin = bearer(login(client, make_user(roles=["admin"]).username)["access_token"])
    user = make_user(roles=["user", "admin"])
    tokens = login(client, user.username)
    assert client.delete(f"/users/{user.id}/roles/admin", headers=admin).status_code == 204
    assert eventually(lambda: refused(client, tokens["access_token"]))


def test_a_role_granted_leaves_existing_tokens_working(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user(roles=["user"])
    tokens = login(client, user.username)
    with db_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO user_roles (user_id, role_id)"
                " SELECT :id, id FROM roles WHERE name = 'admin'"
            ),
            {"id": user.id},
        )
    assert status(client, tokens["access_token"]) == 200
    assert refresh(client, tokens["refresh_token"])  # and the next token brings it


def test_a_password_change_by_an_administrator_refuses_the_users_tokens(
    client: TestClient, make_user: MakeUser
) -> None:
    admin = bearer(login(client, make_user(roles=["admin"]).username)["access_token"])
    user = make_user()
    tokens = login(client, user.username)
    changed = client.patch(
        f"/users/{user.id}", json={"password": "a new long password"}, headers=admin
    )
    assert changed.status_code == 200
    assert eventually(lambda: refused(client, tokens["access_token"]))


def test_a_request_just_after_the_worker_stood_still_waits_for_the_feed_instead_of_503(
    client: TestClient, make_user: MakeUser
) -> None:
    """A worker that stood still for longer than a confirmation is trusted (a long garbage
    collection, a starved CPU) finds its cache out of date, although its feed confirms on
    its next poll or ping: the first requests wait for that, rather than answer 503 (a CI
    run on a slow machine got one in the fuzz tests)."""
    access_token = login(client, make_user().username)["access_token"]
    client.app.state.revocations.invalidate()  # type: ignore[attr-defined]

    assert status(client, access_token) == 200


def test_a_request_that_waited_for_the_feed_sees_what_ended_meanwhile(
    client: TestClient, make_user: MakeUser
) -> None:
    """The wait ends with a confirmation of everything committed before it: a session
    that ended just before is refused, not let through on the strength of the wait."""
    tokens = login(client, make_user().username)
    client.post("/token/revoke", data={"token": tokens["refresh_token"]})
    client.app.state.revocations.invalidate()  # type: ignore[attr-defined]

    assert refused(client, tokens["access_token"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_worker_that_cannot_tell_whether_a_token_was_revoked_answers_503(
    client: TestClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The revocation poll fails (SQLite's feed; PostgreSQL's listener: tests/test_faults.py)
    and the cache is no longer vouched for: no access token is let through, none is called
    invalid either."""
    access_token = login(client, make_user().username)["access_token"]
    polls_failed = threading.Event()

    async def failing_poll(*_args: object) -> None:
        polls_failed.set()
        raise OSError("the database went away")

    monkeypatch.setattr(SqliteRevocationFeed, "_poll", failing_poll)
    assert eventually(polls_failed.is_set)  # no successful poll is in flight any more
    client.app.state.revocations.invalidate()  # type: ignore[attr-defined]

    answer = client.get("/identify/me", headers=bearer(access_token))

    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.json() == {"detail": "The database is unavailable; try again shortly."}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_session_ended_while_polls_failed_for_longer_than_the_overlap_is_refused_after(
    client: TestClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes succeed while the SQLite feed's polls fail for longer than its look-back
    overlap (shrunk here, to keep the test short): the first poll that succeeds again
    must still read the logout made meanwhile before it vouches for the cache."""
    monkeypatch.setattr(revocation_feed, "POLL_OVERLAP_SECONDS", 0.5)
    ending = login(client, make_user().username)
    other = login(client, make_user().username)
    failing = threading.Event()
    failing.set()
    real_poll = SqliteRevocationFeed._poll

    async def flaky_poll(self: SqliteRevocationFeed, *args: Any) -> Any:
        if failing.is_set():
            raise OSError("the database went away")
        return await real_poll(self, *args)

    monkeypatch.setattr(SqliteRevocationFeed, "_poll", flaky_poll)
    assert eventually(lambda: status(client, other["access_token"]) == 503)
    assert client.post("/token/revoke", data={"token": ending["refresh_token"]}).is_success
    time.sleep(1.0)  # the polls keep failing for twice the overlap after the logout
    failing.clear()

    assert eventually(lambda: status(client, other["access_token"]) == 200)
    assert refused(client, ending["access_token"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_session_ended_by_a_transaction_that_commits_late_is_refused_once_it_commits(
    client: TestClient, make_user: MakeUser, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain-SQL transaction records the end of a session and then stays open for longer
    than the SQLite feed's look-back overlap (shrunk here) before it commits: the time it
    recorded is older than the polls made meanwhile, yet the token is refused after it
    commits. Meanwhile the polls go on vouching for the cache: an uncommitted end is not
    owed yet."""
    monkeypatch.setattr(revocation_feed, "POLL_OVERLAP_SECONDS", 0.2)
    user = make_user()
    ending = login(client, user.username)
    other = login(client, make_user().username)
    with db_engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE sessions SET end_cause = 'logout',"
                " ended_at = strftime('%Y-%m-%d %H:%M:%f000', 'now') WHERE user_id = :id"
            ),
            {"id": user.id},
        )
        time.sleep(1.5)  # several polls, each longer after the recorded time than the overlap
        assert status(client, other["access_token"]) == 200
        assert status(client, ending["access_token"]) == 200
    assert eventually(lambda: refused(client, ending["access_token"]))


def test_a_feed_stopped_mid_read_disposes_of_its_engine_only_after_the_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """With an in-memory database the feed's engine pools one connection per thread and its
    dispose() closes them all, the one a read is still using in its thread included: SQLite's
    C code then crashed the process. Stopping the feed must wait for the read first."""
    events: list[str] = []
    reading = threading.Event()
    release = threading.Event()

    def slow_read(_engine: Engine, _since: Any) -> Any:
        reading.set()
        release.wait(5)
        events.append("read finished")
        return revocation_feed._Snapshot(None, [], [])

    real_create_engine = revocation_feed.create_engine

    def recording_engine(*args: Any, **kwargs: Any) -> Engine:
        engine = real_create_engine(*args, **kwargs)
        dispose = engine.dispose
        monkeypatch.setattr(engine, "dispose", lambda: (events.append("disposed"), dispose()))
        return engine

    monkeypatch.setattr(revocation_feed, "_read", slow_read)
    monkeypatch.setattr(revocation_feed, "create_engine", recording_engine)
    feed = SqliteRevocationFeed(RevocationCache(window_seconds=60), "sqlite://")

    async def stop_mid_read() -> None:
        task = asyncio.create_task(feed.run())
        await asyncio.to_thread(reading.wait, 5)
        task.cancel()
        threading.Timer(0.2, release.set).start()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(stop_mid_read())
    assert events == ["read finished", "disposed"]
