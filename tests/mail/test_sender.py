"""The background sender gives the SMTP server (a real one, aiosmtpd) exactly the recipient
a renderer prepared, and nothing at all when that is not one plain address, whatever the
renderer checked. The reset mail's own checks: tests/accounts/test_reset_mail.py."""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.mail.models import OutboxMail
from notes_api.mail.sender import Prepared
from notes_api.main import create_app
from tests.accounts.test_reset_mail import wait_for_outcome
from tests.conftest import make_settings
from tests.mail_server import MailServer

KIND = "test_mail"
FROM = "no-reply@notes.example"


def send_one(
    database_url: str, db_engine: Engine, mail_server: MailServer, to_header: str, recipient: str
) -> str:
    """Queue one mail of a test kind, whose renderer prepares these, and let a sender send it:
    its outcome."""

    async def render(_db: AsyncSession, _payload: Mapping[str, Any]) -> Prepared:
        message = EmailMessage(policy=SMTP)
        message["From"] = FROM
        message["To"] = to_header
        message["Subject"] = "test"
        message.set_content("test\n")
        return Prepared(message, recipient)

    app = create_app(make_settings(database_url, smtp_url=mail_server.url, mail_from=FROM))
    app.state.mail_sender.renderers[KIND] = render
    with db_engine.begin() as connection:
        connection.execute(insert(OutboxMail).values(kind=KIND, payload={}))
    with TestClient(app):
        [outcome] = wait_for_outcome(db_engine)
    return outcome


def test_the_envelope_holds_the_prepared_recipient_alone_whatever_the_to_header_says(
    database_url: str, db_engine: Engine, mail_server: MailServer
) -> None:
    # smtplib would take the recipients from this header: two of them.
    to_header = "victim@mail.example,attacker@evil.example"
    outcome = send_one(database_url, db_engine, mail_server, to_header, "victim@mail.example")
    assert outcome == "sent"
    assert mail_server.inbox.envelopes == [(FROM, ["victim@mail.example"])]


@pytest.mark.parametrize(
    "recipient",
    [
        "victim,attacker@evil.example",
        "=?utf-8?q?a=40evil.example=2C_b?=@mail.example",
        "victim:attacker@evil.example",
    ],
)
def test_a_prepared_recipient_that_is_not_one_plain_address_is_never_sent(
    database_url: str, db_engine: Engine, mail_server: MailServer, recipient: str
) -> None:
    outcome = send_one(database_url, db_engine, mail_server, "victim@mail.example", recipient)
    assert outcome == "bad_address"
    assert mail_server.inbox.envelopes == []
