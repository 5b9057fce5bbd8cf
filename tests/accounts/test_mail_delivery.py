"""The outbox across processes, and SMTP with STARTTLS, implicit TLS and a login."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select, update

from notes_api.clock import utcnow
from notes_api.mail.models import OutboxMail
from notes_api.mail.sender import POLL_INTERVAL_SECONDS
from notes_api.main import create_app
from notes_api.users.models import User
from tests.accounts.conftest import PUBLIC_URL, MakeMailUser, email_of
from tests.conftest import TEST_SECRET, MakeUser, make_settings
from tests.mail_server import MailServer, reset_link, self_signed_certificate, server_tls_context
from tests.servers import running_server

MAILS = 40
DUPLICATE_WINDOW = POLL_INTERVAL_SECONDS + 0.5
"""After a mail arrived, how long to wait for a second copy: longer than one poll."""


def outbox_row(db_engine: Engine) -> OutboxMail:
    with db_engine.connect() as connection:
        row: OutboxMail = connection.execute(select(OutboxMail)).one()  # type: ignore[assignment]
    return row


def test_a_mail_queued_while_smtp_is_down_survives_a_restart_and_is_sent_once(
    database_url: str, mail_user: MakeMailUser, db_engine: Engine
) -> None:
    """Server 1 queues a mail while its SMTP server is down, fails to send it and stops;
    server 2, started with the SMTP server up, sends it, once. (Each is an app of its own:
    engine, sender, lifespan; real processes would add seconds of start-up, nothing more.)"""
    user = mail_user()
    smtp = MailServer()  # not started yet: its port refuses connections
    settings = make_settings(database_url, smtp_url=smtp.url, public_url=PUBLIC_URL)
    with TestClient(create_app(settings)) as first:
        answer = first.post("/account/password/forgot", json={"email": email_of(user)})
        assert answer.status_code == 202
        deadline = time.monotonic() + 20
        while outbox_row(db_engine).last_error is None and time.monotonic() < deadline:
            time.sleep(0.05)
    left = outbox_row(db_engine)
    assert "ConnectionRefused" in (left.last_error or "")  # server 1 tried
    assert (left.sent_at, left.discarded_at, left.claim) == (None, None, None)
    smtp.start()
    try:
        with TestClient(create_app(settings)):
            smtp.inbox.wait_for(email_of(user))
            time.sleep(DUPLICATE_WINDOW)
    finally:
        smtp.stop()
    assert [recipients for _, recipients in smtp.inbox.envelopes] == [[email_of(user)]]
    assert outbox_row(db_engine).outcome == "sent"


def test_a_mail_left_claimed_by_a_crashed_sender_is_sent_once_when_the_claim_expires(
    database_url: str, mail_user: MakeMailUser, mail_server: MailServer, db_engine: Engine
) -> None:
    user = mail_user()
    expired = utcnow() - timedelta(seconds=1)
    with db_engine.begin() as connection:  # what a sender that died mid-send leaves behind
        connection.execute(
            insert(OutboxMail).values(
                kind="password_reset",
                payload={"email": email_of(user)},
                next_attempt_at=expired - timedelta(minutes=5),
                attempts=1,
                claim="0" * 32,
                claimed_until=expired,
            )
        )
    settings = make_settings(database_url, smtp_url=mail_server.url, public_url=PUBLIC_URL)
    with TestClient(create_app(settings)):
        mail_server.inbox.wait_for(email_of(user))
        time.sleep(DUPLICATE_WINDOW)
    assert [recipients for _, recipients in mail_server.inbox.envelopes] == [[email_of(user)]]
    row = outbox_row(db_engine)
    assert (row.outcome, row.claim, row.attempts) == ("sent", None, 2)


def test_two_server_processes_send_every_queued_mail_exactly_once(
    database_url: str, make_user: MakeUser, db_engine: Engine
) -> None:
    users = [make_user() for _ in range(MAILS)]
    with db_engine.begin() as connection:
        for user in users:
            connection.execute(
                update(User).where(User.id == user.id).values(email=f"{user.username}@mail.example")
            )
            connection.execute(
                insert(OutboxMail).values(
                    kind="password_reset", payload={"username": user.username}
                )
            )
    server = MailServer(delay=0.02).start()  # slow enough that both senders work at once
    env = {
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": TEST_SECRET,
        "SMTP_URL": server.url,
        "PUBLIC_URL": PUBLIC_URL,
    }
    try:
        with running_server(env), running_server(env):
            deadline = time.monotonic() + 60
            while len(server.inbox.messages) < MAILS and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1)  # a duplicate would arrive now
            with db_engine.connect() as connection:
                outcomes = Counter(connection.scalars(select(OutboxMail.outcome)))
    finally:
        server.stop()
    recipients = Counter(message["To"] for message in server.inbox.messages)
    assert recipients == Counter(f"{user.username}@mail.example" for user in users)
    assert outcomes == {"sent": MAILS}


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A self-signed certificate the app's TLS client trusts (through SSL_CERT_FILE, as an
    operator with a private CA would)."""
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return cert, key


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_mail_over_tls_with_a_login(
    security: str,
    certificate: tuple[Path, Path],
    database_url: str,
    mail_user: MakeMailUser,
) -> None:
    context = server_tls_context(*certificate)
    login = ("mailer", "p@ss:word/with?odd#chars")
    if security == "starttls":
        server = MailServer(starttls=context, credentials=login)
        url = f"smtp+starttls://mailer:p%40ss%3Aword%2Fwith%3Fodd%23chars@127.0.0.1:{server.port}"
    else:
        server = MailServer(tls=context, credentials=login)
        url = f"smtps://mailer:p%40ss%3Aword%2Fwith%3Fodd%23chars@127.0.0.1:{server.port}"
    server.start()
    user = mail_user()
    try:
        app = create_app(make_settings(database_url, smtp_url=url, public_url=PUBLIC_URL))
        with TestClient(app) as client:
            client.post("/account/password/forgot", json={"email": email_of(user)})
            [message] = server.inbox.wait_for(email_of(user))
    finally:
        server.stop()
    reset_link(message)


def test_a_server_whose_certificate_is_not_trusted_gets_no_mail(
    tmp_path: Path, database_url: str, mail_user: MakeMailUser, db_engine: Engine
) -> None:
    cert, key = self_signed_certificate(tmp_path)  # not in SSL_CERT_FILE: untrusted
    server = MailServer(tls=server_tls_context(cert, key)).start()
    user = mail_user()
    url = f"smtps://127.0.0.1:{server.port}"
    try:
        with TestClient(create_app(make_settings(database_url, smtp_url=url))) as client:
            client.post("/account/password/forgot", json={"email": email_of(user)})
            deadline = time.monotonic() + 20
            error = None
            while error is None and time.monotonic() < deadline:
                with db_engine.connect() as connection:
                    error = connection.scalar(select(OutboxMail.last_error))
                time.sleep(0.05)
    finally:
        server.stop()
    assert error is not None
    assert "SSL" in error
    assert server.inbox.messages == []


def test_requests_are_throttled_per_address_and_per_name_whether_or_not_it_exists(
    client: TestClient, mail_user: MakeMailUser
) -> None:
    known = mail_user()
    for payload in ({"email": email_of(known)}, {"email": "nobody@mail.example"}):
        answers = [client.post("/account/password/forgot", json=payload) for _ in range(6)]
        assert [a.status_code for a in answers] == [202] * 5 + [429]
        assert answers[-1].json()["error"] == "temporarily_unavailable"
        assert int(answers[-1].headers["Retry-After"]) > 0
    others = [
        client.post("/account/password/forgot", json={"email": f"n{i}@mail.example"})
        for i in range(20)
    ]
    assert [a.status_code for a in others].count(429) == 10  # 20 per address, 10 used above


def test_one_account_gets_at_most_three_mails_per_window(
    client: TestClient, mail_user: MakeMailUser, mail_server: MailServer, db_engine: Engine
) -> None:
    user = mail_user()
    for payload in ({"email": email_of(user)}, {"username": user.username}) * 2:
        assert client.post("/account/password/forgot", json=payload).status_code == 202
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with db_engine.connect() as connection:
            outcomes = list(connection.scalars(select(OutboxMail.outcome).order_by(OutboxMail.id)))
        if all(outcomes):
            break
        time.sleep(0.05)
    assert outcomes == ["sent", "sent", "sent", "throttled"]
    assert len(mail_server.inbox.to(email_of(user))) == 3
