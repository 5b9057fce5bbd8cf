"""Swagger UI and ReDoc from notes-api itself: they work offline, under their CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route, expect

from tests.conftest import DEFAULT_PASSWORD
from tests.web.conftest import WebServer

pytestmark = pytest.mark.browser


@pytest.fixture
def offline(page: Page, web_server: WebServer) -> list[str]:
    """Abort, and record, every request that would leave the server under test."""
    left: list[str] = []

    def handle(route: Route) -> None:
        url = route.request.url
        if url.startswith((web_server.url, "blob:", "data:")):
            route.continue_()
        else:
            left.append(url)
            route.abort()

    page.context.route("**/*", handle)
    return left


def test_swagger_ui_authorizes_with_a_password_and_tries_identify_me(
    page: Page, web_server: WebServer, offline: list[str]
) -> None:
    alice = web_server.make_user("alice")
    page.goto(f"{web_server.url}/docs")
    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    dialog.get_by_label("username:").fill(alice.username)
    dialog.get_by_label("password:", exact=True).fill(DEFAULT_PASSWORD)
    with page.expect_response(f"{web_server.url}/token") as token:
        dialog.get_by_role("button", name="Apply given OAuth2 credentials").click()
    assert token.value.status == 200
    expect(dialog.get_by_text("Authorized")).to_be_visible()
    dialog.get_by_role("button", name="Close").first.click()

    operation = page.locator("#operations-auth-identify_me_identify_me_get")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    with page.expect_response(f"{web_server.url}/identify/me") as answered:
        operation.get_by_role("button", name="Execute").click()
    assert answered.value.status == 200
    live = operation.locator(".live-responses-table .response")
    expect(live.locator(".response-col_status")).to_have_text("200")
    expect(live.locator(".response-col_description")).to_contain_text('"username": "alice"')
    assert offline == []


def test_redoc_renders_from_self_hosted_assets_and_asks_no_other_site(
    page: Page, web_server: WebServer, offline: list[str]
) -> None:
    page.goto(f"{web_server.url}/redoc")
    expect(page.get_by_role("heading", name="notes-api", exact=False).first).to_be_visible()
    expect(page.get_by_text("GET/identify/me").first).to_be_attached()
    # The sidebar's credit stays as a link; its logo (on Redocly's CDN) is never fetched.
    expect(page.get_by_role("link", name="API docs by Redocly")).to_be_attached()
    expect(page.get_by_role("img", name="redocly logo")).to_have_count(0)
    page.wait_for_load_state("networkidle")
    assert offline == []
