"""Account tests run against a real SMTP server (aiosmtpd) that the app mails through."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, update

from notes_api.config import Settings
from notes_api.users.models import User
from tests.conftest import MakeUser, TestUser, make_settings
from tests.mail_server import MailServer

PUBLIC_URL = "https://notes.example"


@pytest.fixture
def settings(database_url: str, mail_server: MailServer) -> Settings:
    return make_settings(
        database_url,
        smtp_url=mail_server.url,
        public_url=PUBLIC_URL,
        mail_from="notes-api <no-reply@notes.example>",
    )


MakeMailUser = Callable[..., TestUser]


@pytest.fixture
def mail_user(make_user: MakeUser, db_engine: Engine) -> MakeMailUser:
    """`mail_user()`: a user with an email address (`<username>@mail.example`)."""

    def make(**kwargs: object) -> TestUser:
        user = make_user(**kwargs)
        with db_engine.begin() as connection:
            connection.execute(update(User).where(User.id == user.id).values(email=email_of(user)))
        return user

    return make


def email_of(user: TestUser) -> str:
    return f"{user.username}@mail.example"
