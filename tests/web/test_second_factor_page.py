"""The second factor in the page: enroll with the QR code's key, recovery codes shown once
with a copy button, the login's second step, and step-up for a role that needs it.

The test is the person's phone: it computes codes with pyotp from the key the page shows."""

from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests import conftest
from tests.conftest import DEFAULT_PASSWORD
from tests.web.conftest import StartServer, WebServer, log_in

pytestmark = pytest.mark.browser


def phone(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time(), counter_offset=steps_ahead)


def enroll_in_page(page: Page) -> tuple[str, list[str]]:
    """Account -> Set up -> scan (read the key) -> confirm: the key and the recovery codes."""
    page.get_by_role("link", name="Account").click()
    section = page.get_by_role("region", name="Second factor")
    section.get_by_role("button", name="Set up a second factor").click()
    expect(
        section.get_by_role("img", name="QR code to scan with your authenticator app")
    ).to_be_visible()
    secret = section.locator("code.secret").inner_text()
    section.get_by_label("Code from the app").fill(phone(secret))
    section.get_by_role("button", name="Confirm").click()
    expect(section.get_by_role("status")).to_have_text("Second factor set up.")
    codes = section.locator(".recovery-codes code").all_inner_texts()
    return secret, codes


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out", exact=True).click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def password_step(page: Page, user: conftest.TestUser) -> None:
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Second step")).to_be_visible()


def test_enrollment_shows_a_qr_code_and_the_recovery_codes_once(
    page: Page, web_server: WebServer
) -> None:
    alice = web_server.make_user("alice")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(web_server.url)
    log_in(page, alice)
    secret, codes = enroll_in_page(page)
    assert len(pyotp.TOTP(secret).byte_secret()) == 20
    assert len(codes) == 10
    section = page.get_by_role("region", name="Second factor")
    section.get_by_role("button", name="Copy recovery codes").click()
    expect(section.get_by_role("status")).to_have_text("Recovery codes copied.")
    assert page.evaluate("navigator.clipboard.readText()").split("\n") == codes
    section.get_by_role("button", name="I have saved them").click()
    expect(section.locator(".recovery-codes")).to_have_count(0)
    page.reload()
    expect(page.get_by_text("Signed in as")).to_contain_text("alice")
    expect(page.get_by_role("region", name="Second factor")).not_to_contain_text(codes[0])
    assert secret not in page.content()


def test_login_asks_for_the_code_after_the_password(page: Page, web_server: WebServer) -> None:
    alice = web_server.make_user("alice")
    page.goto(web_server.url)
    log_in(page, alice)
    secret, _ = enroll_in_page(page)
    log_out(page)
    password_step(page, alice)
    page.get_by_label("Code").fill("000000" if phone(secret, 1) != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert").filter(has_text="not accepted")).to_be_visible()
    page.get_by_label("Code").fill(phone(secret, 1))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("Signed in as")).to_contain_text("alice")


def test_a_recovery_code_logs_in_once(page: Page, web_server: WebServer) -> None:
    alice = web_server.make_user("alice")
    page.goto(web_server.url)
    log_in(page, alice)
    _, codes = enroll_in_page(page)
    log_out(page)
    password_step(page, alice)
    page.get_by_role("button", name="Use a recovery code instead").click()
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("Signed in as")).to_contain_text("alice")
    log_out(page)
    password_step(page, alice)
    page.get_by_role("button", name="Use a recovery code instead").click()
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert").filter(has_text="not accepted")).to_be_visible()


def test_removing_the_second_factor_with_a_code(page: Page, web_server: WebServer) -> None:
    alice = web_server.make_user("alice")
    page.goto(web_server.url)
    log_in(page, alice)
    secret, _ = enroll_in_page(page)
    section = page.get_by_role("region", name="Second factor")
    section.get_by_role("button", name="I have saved them").click()
    section.get_by_label("Code from the app or a recovery code").fill(phone(secret, 1))
    section.get_by_role("button", name="Remove second factor").click()
    expect(section.get_by_role("status")).to_have_text("Second factor removed.")
    log_out(page)
    log_in(page, alice)  # the password alone again


def test_a_role_that_needs_a_second_factor_leads_to_enrolling_and_logging_in_again(
    page: Page, start_server: StartServer
) -> None:
    with start_server(MFA_REQUIRED_ROLES="admin") as server:
        root = server.make_user("root", roles=("admin", "user"))
        page.goto(server.url)
        log_in(page, root)
        nav = page.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link")).to_have_text(["Notes", "Account"])
        secret, _ = enroll_in_page(page)
        section = page.get_by_role("region", name="Second factor")
        section.get_by_role("button", name="I have saved them").click()
        expect(section).to_contain_text("The role admin requires a second factor")
        section.get_by_role("button", name="Log in again with the second factor").click()
        password_step(page, root)
        page.get_by_label("Code").fill(phone(secret, 1))
        page.get_by_role("button", name="Verify").click()
        expect(nav.get_by_role("link")).to_have_text(
            ["Notes", "Account", "Administration", "Audit trail"]
        )


def test_a_step_up_challenge_asks_for_a_new_login_without_refreshing(
    page: Page, web_server: WebServer
) -> None:
    """RFC 9470's 401 is not an expired token: the page must not spend the refresh token on it.
    (The server's answer is stood in for here; the test above gets it for real.)"""
    root = web_server.make_user("root", roles=("admin", "user"))
    page.goto(web_server.url)
    log_in(page, root)
    description = "The role admin requires a second factor: log in again with it"
    page.route(
        "**/users?*",
        lambda route: route.fulfill(
            status=401,
            headers={
                "WWW-Authenticate": 'Bearer error="insufficient_user_authentication", '
                f'error_description="{description}"',
                "Content-Type": "application/json",
            },
            body='{"detail": "step up"}',
        ),
    )
    token_requests: list[str] = []
    page.on(
        "request",
        lambda request: (
            token_requests.append(request.post_data or "")
            if request.url.endswith("/token")
            else None
        ),
    )
    page.get_by_role("link", name="Administration").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.locator("#login-error")).to_contain_text(description)
    expect(page.locator("#login-error")).to_contain_text("Log in again with your second factor.")
    assert not [body for body in token_requests if "grant_type=refresh_token" in body]
