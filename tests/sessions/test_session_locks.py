"""The user-row locks taken by a login, a refresh and the end of every session of a user, on
PostgreSQL, made deterministic by an operator's transaction holding the row (SQLite has no
row locks: `BEGIN IMMEDIATE` serializes writers)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.conftest import DEFAULT_PASSWORD, MakeUser, bearer, login, refresh_status
from tests.databases import POSTGRES_URL
from tests.sessions.waiting import eventually, requests_waiting_on_a_lock

pytestmark = [
    pytest.mark.skipif(POSTGRES_URL is None, reason="needs TEST_DATABASE_URL"),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

NEW_PASSWORD = "a brand new passphrase"


def test_a_login_queued_on_the_user_row_before_a_password_change_does_not_outlive_it(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """The login re-checks the password hash under the user row's lock, and gets the row
    first: it still sees the old hash and opens its session. The password change must then
    wait for that session and end it, not end the sessions before the login's commit."""
    user = make_user()
    mine = bearer(login(client, user.username)["access_token"])
    change = {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    with db_engine.connect() as operator, ThreadPoolExecutor(max_workers=2) as pool:
        operator.execute(text("SELECT id FROM users WHERE id = :id FOR SHARE"), {"id": user.id})
        logging_in = pool.submit(
            client.post, "/token", data={"username": user.username, "password": DEFAULT_PASSWORD}
        )
        assert eventually(lambda: requests_waiting_on_a_lock(db_engine) == 1)
        changing = pool.submit(client.post, "/account/password", json=change, headers=mine)
        assert eventually(lambda: requests_waiting_on_a_lock(db_engine) == 2)
        operator.rollback()
        logged_in, changed = logging_in.result(timeout=30), changing.result(timeout=30)
    assert logged_in.status_code == 200
    assert changed.status_code == 204
    assert refresh_status(client, logged_in.json()["refresh_token"]) == 400


def test_ending_every_session_does_not_wait_for_writes_that_only_reference_the_user(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """`FOR NO KEY UPDATE`, not `FOR UPDATE`: a transaction inserting a row that refers to
    the user (a note of theirs: its foreign key check holds the user row `FOR KEY SHARE`)
    does not hold up the end of their sessions."""
    user = make_user()
    mine = bearer(login(client, user.username)["access_token"])
    other = login(client, user.username)
    with db_engine.connect() as operator, ThreadPoolExecutor(max_workers=1) as pool:
        operator.execute(text("SELECT id FROM users WHERE id = :id FOR KEY SHARE"), {"id": user.id})
        ending = pool.submit(client.delete, "/account/sessions", headers=mine)
        try:
            ended = ending.result(timeout=10)
        finally:
            operator.rollback()
    assert ended.status_code == 204
    assert refresh_status(client, other["refresh_token"]) == 400


def test_a_refresh_does_not_wait_for_another_refresh_of_the_same_user(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """`FOR SHARE`, not a write lock: a rotation of one of the user's sessions (held here by
    the operator, reading the row as a rotation does) does not hold up another's."""
    user = make_user()
    tokens = login(client, user.username)
    with db_engine.connect() as operator, ThreadPoolExecutor(max_workers=1) as pool:
        operator.execute(text("SELECT id FROM users WHERE id = :id FOR SHARE"), {"id": user.id})
        refreshing = pool.submit(refresh_status, client, tokens["refresh_token"])
        try:
            status = refreshing.result(timeout=10)
        finally:
            operator.rollback()
    assert status == 200


def test_a_login_does_not_wait_for_writes_that_only_reference_the_user(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """`FOR NO KEY UPDATE`, not `FOR UPDATE`: a transaction inserting a row that refers to
    the user (its foreign key check holds the user row `FOR KEY SHARE`) does not hold up
    their login."""
    user = make_user()
    credentials = {"username": user.username, "password": DEFAULT_PASSWORD}
    with db_engine.connect() as operator, ThreadPoolExecutor(max_workers=1) as pool:
        operator.execute(text("SELECT id FROM users WHERE id = :id FOR KEY SHARE"), {"id": user.id})
        logging_in = pool.submit(client.post, "/token", data=credentials)
        try:
            logged_in = logging_in.result(timeout=10)
        finally:
            operator.rollback()
    assert logged_in.status_code == 200
