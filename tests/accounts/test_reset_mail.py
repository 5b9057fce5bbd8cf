"""POST /account/password/forgot: the mail, through a real SMTP server."""

from __future__ import annotations

import logging
import time

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from sqlalchemy import Engine, select, text, update

from notes_api.accounts.models import PasswordResetToken
from notes_api.accounts.reset import hash_reset_token
from notes_api.mail.models import OutboxMail
from notes_api.main import create_app
from notes_api.users.models import User
from tests.accounts.conftest import PUBLIC_URL, MakeMailUser, email_of
from tests.conftest import MakeUser, make_settings
from tests.mail_server import MailServer, reset_link


def wait_for_outcome(db_engine: Engine, count: int = 1, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db_engine.connect() as connection:
            outcomes = list(connection.scalars(select(OutboxMail.outcome).order_by(OutboxMail.id)))
        if len(outcomes) >= count and all(outcomes):
            return [str(o) for o in outcomes]
        time.sleep(0.05)
    raise TimeoutError("the outbox was not drained")


def test_forgot_by_email_mails_a_link_with_the_token_in_the_fragment(
    client: TestClient, mail_user: MakeMailUser, mail_server: MailServer, db_engine: Engine
) -> None:
    user = mail_user()
    response = client.post("/account/password/forgot", json={"email": email_of(user)})
    assert response.status_code == 202
    [message] = mail_server.inbox.wait_for(email_of(user))
    link, token = reset_link(message)
    assert link == f"{PUBLIC_URL}/#/reset-password?token={token}"
    assert len(token) == 43  # 32 random bytes, base64url
    assert message["From"] == "notes-api <no-reply@notes.example>"
    assert user.username in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    with db_engine.connect() as connection:
        stored = connection.scalars(select(PasswordResetToken.token_hash)).all()
        outbox = connection.execute(text("SELECT * FROM mail_outbox")).mappings().one()
    assert stored == [hash_reset_token(token)]  # the digest only
    assert token not in str(dict(outbox))  # the queue never held it


def test_forgot_by_username_mails_the_account_address(
    client: TestClient, mail_user: MakeMailUser, mail_server: MailServer
) -> None:
    user = mail_user()
    assert (
        client.post("/account/password/forgot", json={"username": user.username}).status_code == 202
    )
    assert len(mail_server.inbox.wait_for(email_of(user))) == 1


@pytest.mark.parametrize("case", ["unknown", "no_email", "disabled"])
def test_no_mail_without_an_enabled_account_with_an_address_and_the_same_answer(
    case: str,
    client: TestClient,
    mail_user: MakeMailUser,
    make_user: MakeUser,
    mail_server: MailServer,
    db_engine: Engine,
) -> None:
    known = mail_user()
    known_answer = client.post("/account/password/forgot", json={"email": email_of(known)})
    if case == "unknown":
        payload = {"email": "nobody@mail.example"}
    elif case == "no_email":
        payload = {"username": make_user().username}
    else:
        payload = {"email": email_of(mail_user(disabled=True))}
    answer = client.post("/account/password/forgot", json=payload)
    assert (answer.status_code, answer.json()) == (known_answer.status_code, known_answer.json())
    assert answer.headers.keys() - {"x-request-id"} == known_answer.headers.keys() - {
        "x-request-id"
    }
    assert wait_for_outcome(db_engine, 2) == ["sent", "no_account"]
    assert len(mail_server.inbox.messages) == 1


def test_a_mail_queued_while_the_smtp_server_is_down_is_sent_when_it_is_back(
    database_url: str, mail_user: MakeMailUser, db_engine: Engine
) -> None:
    down = MailServer()  # not started: the port refuses connections
    app = create_app(make_settings(database_url, smtp_url=down.url, public_url=PUBLIC_URL))
    user = mail_user()
    with TestClient(app) as client:
        assert (
            client.post("/account/password/forgot", json={"email": email_of(user)}).status_code
            == 202
        )
        with db_engine.connect() as connection:
            for _ in range(100):
                attempts = connection.scalar(select(OutboxMail.attempts))
                if attempts and attempts >= 2:
                    break
                time.sleep(0.05)
            row = connection.execute(select(OutboxMail)).one()
            connection.rollback()
        assert row.sent_at is None
        assert row.attempts >= 2
        assert "ConnectionRefused" in (row.last_error or "")
        down.start()
        try:
            [message] = down.inbox.wait_for(email_of(user))
            assert wait_for_outcome(db_engine) == ["sent"]
        finally:
            down.stop()
    reset_link(message)


def test_production_without_smtp_url_answers_404(database_url: str) -> None:
    settings = make_settings(database_url, app_env="production")
    with TestClient(create_app(settings)) as client:
        response = client.post("/account/password/forgot", json={"email": "a@mail.example"})
    assert response.status_code == 404


def test_development_without_smtp_url_logs_the_mail(
    database_url: str, mail_user: MakeMailUser, caplog: pytest.LogCaptureFixture, db_engine: Engine
) -> None:
    user = mail_user()
    with (
        caplog.at_level(logging.WARNING, logger="notes_api.mail"),
        TestClient(create_app(make_settings(database_url, public_url=PUBLIC_URL))) as client,
    ):
        client.post("/account/password/forgot", json={"email": email_of(user)})
        assert wait_for_outcome(db_engine) == ["sent"]
    assert f"{PUBLIC_URL}/#/reset-password?token=" in caplog.text


NOT_ONE_ADDRESS = [
    "victim@mail.example\r\nBcc: attacker@evil.example",
    "victim,attacker@evil.example",
    "=?utf-8?q?a=40evil.example=2C_b?=@mail.example",
    "victim:attacker@evil.example",
]
"""Addresses a mail header could read as another header or as other recipients."""


@pytest.mark.parametrize(
    "email", [*NOT_ONE_ADDRESS, "a@b.c\nSubject: x", "a@b.c\rX: y", "victim;attacker@evil.example"]
)
def test_an_address_that_is_not_one_plain_address_is_refused_before_any_mail(
    email: str, client: TestClient, db_engine: Engine
) -> None:
    response = client.post("/account/password/forgot", json={"email": email})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "email"
    with db_engine.connect() as connection:
        assert connection.scalar(select(OutboxMail.id)) is None


@pytest.mark.parametrize("email", NOT_ONE_ADDRESS)
def test_a_stored_address_that_is_not_one_plain_address_is_never_mailed(
    email: str,
    client: TestClient,
    make_user: MakeUser,
    mail_server: MailServer,
    db_engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Written in plain SQL, say: the sender refuses it, no SMTP server ever hears of it, and
    the log names the user, never the address."""
    user = make_user()
    with db_engine.begin() as connection:
        connection.execute(update(User).where(User.id == user.id).values(email=email))
    with caplog.at_level(logging.WARNING, logger="notes_api.mail"):
        answer = client.post("/account/password/forgot", json={"username": user.username})
        assert answer.status_code == 202
        assert wait_for_outcome(db_engine) == ["bad_address"]
    assert mail_server.inbox.envelopes == []
    assert f"user {user.id} " in caplog.text
    assert "evil.example" not in caplog.text
    with db_engine.connect() as connection:
        assert connection.scalar(select(PasswordResetToken.id)) is None  # no token was made


def test_either_email_or_username(client: TestClient) -> None:
    assert client.post("/account/password/forgot", json={}).status_code == 422
    both = {"email": "a@mail.example", "username": "a"}
    assert client.post("/account/password/forgot", json=both).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "a@mail.example"},
        {"username": "a"},
        {"email": "a@mail.example", "username": "a"},
        {"email": "a@mail.example", "username": None},
        {"email": None, "username": "a"},
        {"email": None, "username": None},
    ],
)
def test_the_published_schema_takes_the_bodies_the_server_takes(
    client: TestClient, body: dict[str, str | None]
) -> None:
    # Exactly one of the two: a client generated from the document (or a fuzzer) sent both.
    document = client.get("/openapi.json").json()
    schema = document["components"]["schemas"]["ForgotPassword"]
    valid = Draft202012Validator(schema).is_valid(body)
    answer = client.post("/account/password/forgot", json=body)
    assert answer.status_code == (202 if valid else 422), (valid, answer.text)
