"""POST /account/password/reset with the token from the mail (read from the SMTP server)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from notes_api.accounts.models import PasswordResetToken
from notes_api.audit.models import AuditEvent
from notes_api.body_limit import MAX_BODY_SIZE
from notes_api.clock import utcnow
from tests.accounts.conftest import MakeMailUser, email_of
from tests.accounts.test_account_api import refused, works
from tests.conftest import DEFAULT_PASSWORD, TEST_SECRET, login
from tests.conftest import TestUser as Person
from tests.mail_server import MailServer, reset_link
from tests.servers import running_server
from tests.sessions.waiting import eventually

NEW_PASSWORD = "a password from the mail"


def mailed_token(client: TestClient, mail_server: MailServer, user: Person, nth: int = 1) -> str:
    assert (
        client.post("/account/password/forgot", json={"email": email_of(user)}).status_code == 202
    )
    messages = mail_server.inbox.wait_for(email_of(user), nth)
    return reset_link(messages[nth - 1])[1]


def reset(client: TestClient, token: str, password: str = NEW_PASSWORD) -> int:
    response = client.post(
        "/account/password/reset", json={"token": token, "new_password": password}
    )
    return response.status_code


def password_is(client: TestClient, user: Person, password: str) -> bool:
    response = client.post("/token", data={"username": user.username, "password": password})
    return response.status_code == 200


def test_reset_sets_the_password_and_ends_every_session(
    client: TestClient, mail_user: MakeMailUser, mail_server: MailServer, db_engine: Engine
) -> None:
    user = mail_user()
    sessions = [login(client, user.username) for _ in range(2)]
    token = mailed_token(client, mail_server, user)
    assert reset(client, token) == 204
    assert eventually(lambda: all(refused(client, t) for t in sessions))
    assert password_is(client, user, NEW_PASSWORD)
    assert not password_is(client, user, DEFAULT_PASSWORD)
    with db_engine.connect() as connection:
        actions = list(connection.scalars(select(AuditEvent.action)))
        details = [str(d) for d in connection.scalars(select(AuditEvent.detail))]
    assert {"user.password_reset_mailed", "user.password_reset"} <= set(actions)
    assert not any(token in d or NEW_PASSWORD in d for d in details)


def test_a_token_works_once(
    client: TestClient, mail_user: MakeMailUser, mail_server: MailServer
) -> None:
    user = mail_user()
    token = mailed_token(client, mail_server, user)
    assert reset(client, token) == 204
    assert reset(client, token, "yet another password") == 400
    assert password_is(client, user, NEW_PASSWORD)


def test_a_newer_token_voids_the_older_one(
    client: TestClient, mail_user: MakeMailUser, mail_server: MailServer
) -> None:
    user = mail_user()
    older = mailed_token(client, mail_server, user, 1)
    newer = mailed_token(client, mail_server, user, 2)
    assert reset(client, older) == 400
    assert reset(client, newer) == 204


def test_an_expired_token_is_400_and_changes_nothing(
    client: TestClient, mail_user: MakeMailUser, mail_server: MailServer, db_engine: Engine
) -> None:
    user = mail_user()
    session = login(client, user.username)
    token = mailed_token(client, mail_server, user)
    with db_engine.begin() as connection:
        connection.execute(
            update(PasswordResetToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert reset(client, token) == 400
    assert password_is(client, user, DEFAULT_PASSWORD)
    assert works(client, session)


def test_a_password_change_voids_a_mailed_token(
    client: TestClient, mail_user: MakeMailUser, mail_server: MailServer
) -> None:
    user = mail_user()
    token = mailed_token(client, mail_server, user)
    tokens = login(client, user.username)
    client.post(
        "/account/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "changed by hand"},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert reset(client, token) == 400


@pytest.mark.parametrize(
    "token",
    [
        "",
        "short",
        "A" * 43,
        "A" * 42 + "=",
        "../../etc/passwd",
        "\x00" * 43,
        "é" * 43,
        pytest.param("\ud800" * 43, id="unpaired surrogates"),
        pytest.param("A" * 1024, id="1024 characters"),
        pytest.param("A" * 1025, id="1025 characters"),
        pytest.param("A" * 100_000, id="100,000 characters"),
        pytest.param("A" * (MAX_BODY_SIZE - 1000), id="just under the body limit"),
    ],
)
def test_unknown_or_malformed_tokens_are_400(
    client: TestClient, mail_user: MakeMailUser, token: str
) -> None:
    user = mail_user()
    response = client.post(
        "/account/password/reset",
        # json.dumps escapes what the client could not encode (an unpaired surrogate).
        content=json.dumps({"token": token, "new_password": NEW_PASSWORD}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The reset link is invalid, used or expired; ask for a new one"
    }
    assert password_is(client, user, DEFAULT_PASSWORD)


def test_a_token_past_the_body_limit_is_413_before_anything_parses_it(
    client: TestClient, mail_user: MakeMailUser
) -> None:
    user = mail_user()
    response = client.post(
        "/account/password/reset",
        json={"token": "A" * MAX_BODY_SIZE, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 413
    assert password_is(client, user, DEFAULT_PASSWORD)


def test_a_weak_new_password_is_422_and_the_token_stays_usable(
    client: TestClient, mail_user: MakeMailUser, mail_server: MailServer
) -> None:
    user = mail_user()
    token = mailed_token(client, mail_server, user)
    response = client.post(
        "/account/password/reset", json={"token": token, "new_password": "short"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "new_password"
    assert reset(client, token) == 204


def test_a_token_of_a_user_disabled_since_is_refused(
    client: TestClient, mail_user: MakeMailUser, mail_server: MailServer, db_engine: Engine
) -> None:
    from notes_api.users.models import User

    user = mail_user()
    token = mailed_token(client, mail_server, user)
    with db_engine.begin() as connection:
        connection.execute(update(User).where(User.id == user.id).values(disabled=True))
    assert reset(client, token) == 400


def test_concurrent_resets_with_one_token_let_exactly_one_through(
    database_url: str, mail_user: MakeMailUser, mail_server: MailServer
) -> None:
    """Eight clients present the same token at once to a real server: one wins."""
    user = mail_user()
    env = {
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": TEST_SECRET,
        "SMTP_URL": mail_server.url,
        "PUBLIC_URL": "https://notes.example",
    }
    with running_server(env) as url:
        httpx2.post(f"{url}/account/password/forgot", json={"email": email_of(user)}, timeout=10)
        [message] = mail_server.inbox.wait_for(email_of(user))
        token = reset_link(message)[1]
        passwords = [f"racing password number {i}" for i in range(8)]
        barrier = threading.Barrier(len(passwords))

        def attempt(password: str) -> int:
            barrier.wait()
            response = httpx2.post(
                f"{url}/account/password/reset",
                json={"token": token, "new_password": password},
                timeout=30,
            )
            return response.status_code

        with ThreadPoolExecutor(len(passwords)) as pool:
            codes = list(pool.map(attempt, passwords))
        assert sorted(codes) == [204] + [400] * 7
        winner = passwords[codes.index(204)]
        logins = [
            httpx2.post(f"{url}/token", data={"username": user.username, "password": p}, timeout=10)
            for p in (winner, DEFAULT_PASSWORD)
        ]
    assert [r.status_code for r in logins] == [200, 400]
