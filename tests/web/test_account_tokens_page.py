"""The account view's personal access tokens: created with chosen roles and shown once,
listed, and deleted after a confirmation."""

from __future__ import annotations

import httpx2
import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import WebServer, log_in

pytestmark = pytest.mark.browser


def test_a_token_is_created_shown_once_used_and_deleted(page: Page, web_server: WebServer) -> None:
    person = web_server.make_user("ada", roles=("admin", "user"))
    page.goto(f"{web_server.url}/#/account")
    log_in(page, person)
    section = page.get_by_role("region", name="Personal access tokens")
    expect(section.get_by_text("You have no personal access tokens.")).to_be_visible()

    section.get_by_label("Name").fill("nightly backup")
    section.get_by_label("Expires after (days)").fill("7")
    section.get_by_role("checkbox", name="admin").uncheck()
    section.get_by_role("button", name="Create token").click()

    shown = section.get_by_label('New token "nightly backup" (shown once)')
    expect(shown).to_be_focused()
    token = shown.input_value()
    assert token.startswith("nap_")
    me = httpx2.get(
        f"{web_server.url}/identify/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert me.json()["roles"] == ["user"]
    row = section.get_by_role("row").filter(has_text="nightly backup")
    expect(row).to_contain_text("user")
    expect(row).to_contain_text("never")

    page.reload()  # shown once: after a reload only the listing remains
    section = page.get_by_role("region", name="Personal access tokens")
    expect(section.get_by_role("row").filter(has_text="nightly backup")).to_be_visible()
    expect(section.get_by_label('New token "nightly backup" (shown once)')).to_have_count(0)
    assert token not in page.content()

    section.get_by_role("button", name="Delete nightly backup").click()
    dialog = page.get_by_role("alertdialog", name="Delete the token nightly backup?")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    dialog.get_by_role("button", name="Delete nightly backup").click()
    expect(section.get_by_role("status")).to_have_text("Deleted token nightly backup.")
    expect(section.get_by_text("You have no personal access tokens.")).to_be_visible()
    refused = httpx2.get(
        f"{web_server.url}/identify/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert refused.status_code == 401
