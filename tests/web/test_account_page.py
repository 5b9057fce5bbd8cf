"""The account view and the password reset, in Chromium, with mail from a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from notes_api.users.models import User
from tests.conftest import DEFAULT_PASSWORD
from tests.mail_server import MailServer, reset_link
from tests.web.conftest import StartServer, WebServer, log_in

PUBLIC_URL = "https://notes.example"
NEW_PASSWORD = "a new password nobody guessed"


@pytest.fixture
def server(start_server: StartServer, mail_server: MailServer) -> Iterator[WebServer]:
    with start_server(SMTP_URL=mail_server.url, PUBLIC_URL=PUBLIC_URL) as running:
        yield running


def test_reset_from_the_mail_to_the_new_login(
    page: Page, server: WebServer, mail_server: MailServer
) -> None:
    user = server.make_user("carol")
    with server.engine.begin() as connection:
        connection.execute(
            update(User).where(User.id == user.id).values(email="carol@mail.example")
        )
    page.goto(server.url)
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email address or username").fill("carol@mail.example")
    page.get_by_role("button", name="Mail me a reset link").click()
    expect(page.get_by_role("status")).to_contain_text("a reset link is on its way")

    [message] = mail_server.inbox.wait_for("carol@mail.example")
    link, token = reset_link(message)
    assert link.startswith(f"{PUBLIC_URL}/#/reset-password?token=")
    page.goto(server.url + link.removeprefix(PUBLIC_URL))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    assert token not in page.url  # dropped from the address bar and the history entry
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password, again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password has been changed")
    page.get_by_role("link", name="Log in with the new password").click()
    log_in(page, user, NEW_PASSWORD)

    old = httpx2.post(
        f"{server.url}/token", data={"username": "carol", "password": DEFAULT_PASSWORD}
    )
    assert old.status_code == 400
    page.go_back()  # the link's token is not in the history: the view says so
    page.go_back()
    assert token not in page.url


def test_a_used_link_says_so(page: Page, server: WebServer, mail_server: MailServer) -> None:
    user = server.make_user("dave")
    with server.engine.begin() as connection:
        connection.execute(update(User).where(User.id == user.id).values(email="dave@mail.example"))
    httpx2.post(f"{server.url}/account/password/forgot", json={"username": "dave"})
    [message] = mail_server.inbox.wait_for("dave@mail.example")
    link, token = reset_link(message)
    spent = httpx2.post(
        f"{server.url}/account/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert spent.status_code == 204
    page.goto(server.url + link.removeprefix(PUBLIC_URL))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password, again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("alert").filter(has_text="invalid")).to_contain_text(
        "The reset link is invalid, used or expired"
    )


def test_change_password_and_log_out_another_session(page: Page, server: WebServer) -> None:
    user = server.make_user("erin")
    other = httpx2.post(
        f"{server.url}/token",
        data={"username": "erin", "password": DEFAULT_PASSWORD},
        headers={
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
        },
    ).json()
    page.goto(server.url)
    log_in(page, user)
    page.get_by_role("link", name="Account").click()
    sessions = page.get_by_role("region", name="Sessions")
    expect(sessions.get_by_text("This session")).to_be_visible()
    expect(sessions.get_by_text("Firefox on Linux")).to_be_visible()
    sessions.get_by_role("button", name="Log out Firefox on Linux", exact=False).click()
    page.get_by_role("alertdialog").get_by_role("button", name="Log out").click()
    expect(sessions.get_by_role("status")).to_contain_text("Firefox on Linux has been logged out")
    expect(sessions.get_by_role("list").get_by_text("Firefox on Linux")).to_have_count(0)
    refused = httpx2.post(
        f"{server.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": other["refresh_token"]},
    )
    assert refused.status_code == 400

    password = page.get_by_role("region", name="Password")
    password.get_by_label("Current password").fill("wrong password!")
    password.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    password.get_by_label("New password, again").fill(NEW_PASSWORD)
    password.get_by_role("button", name="Change password").click()
    expect(password.get_by_role("alert")).to_contain_text("current password is wrong")
    password.get_by_label("Current password").fill(DEFAULT_PASSWORD)
    password.get_by_role("button", name="Change password").click()
    expect(password.get_by_role("status")).to_contain_text("Password changed")
    page.reload()  # this session stayed: the page is still signed in
    expect(page.get_by_text("Signed in as")).to_contain_text("erin")
