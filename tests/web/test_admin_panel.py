"""The administration panel: users and roles, grant, revoke, disable."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import DEFAULT_PASSWORD
from tests.web.conftest import WebServer, log_in, save_screenshot

pytestmark = pytest.mark.browser

REMOVE = "\N{MULTIPLICATION SIGN}"  # the label of a role chip's revoke button


def test_admin_grants_and_revokes_a_role_and_disables_a_user(
    page: Page, web_server: WebServer
) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    bob = web_server.make_user("bob")
    page.goto(web_server.url)
    log_in(page, admin)
    panel = page.get_by_role("region", name="Administration")
    expect(panel).to_be_visible()
    row = panel.locator(f'tr[data-user-id="{bob.id}"]')
    roles = row.get_by_role("list", name="Roles of bob")
    expect(roles).to_have_text(f"user{REMOVE}")

    row.get_by_label("Role to grant to bob").select_option("admin")
    row.get_by_role("button", name="Grant").click()
    expect(panel.get_by_role("status")).to_have_text("Granted admin to bob.")
    expect(roles.get_by_role("listitem")).to_have_count(2)
    assert sorted(web_server.call(admin, "GET", f"/users/{bob.id}").json()["roles"]) == [
        "admin",
        "user",
    ]

    row.get_by_role("button", name="Revoke user from bob").click()
    expect(panel.get_by_role("status")).to_have_text("Revoked user from bob.")
    expect(roles.get_by_role("listitem")).to_have_text([f"admin{REMOVE}"])
    assert web_server.call(admin, "GET", f"/users/{bob.id}").json()["roles"] == ["admin"]

    row.get_by_role("button", name="Disable bob").click()
    expect(row).to_contain_text("disabled")
    expect(row.get_by_role("button", name="Enable bob")).to_be_visible()
    refused = httpx2.post(
        f"{web_server.url}/token",
        data={"username": "bob", "password": DEFAULT_PASSWORD},
        timeout=10,
    )
    assert refused.json()["error"] == "invalid_grant"


def test_admin_cannot_disable_themselves_from_the_panel(page: Page, web_server: WebServer) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    page.goto(web_server.url)
    log_in(page, admin)
    row = page.locator(f'tr[data-user-id="{admin.id}"]')
    expect(row).to_contain_text("(you)")
    expect(row.get_by_role("button", name="Disable root")).to_have_count(0)


def test_a_user_without_admin_sees_no_panel_and_sends_no_admin_request(
    page: Page, web_server: WebServer
) -> None:
    alice = web_server.make_user("alice")
    paths: list[str] = []
    page.on("request", lambda request: paths.append(request.url.removeprefix(web_server.url)))
    page.goto(web_server.url)
    log_in(page, alice)
    expect(page.get_by_role("region", name="Administration")).to_be_hidden()
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_role("status").first).to_have_text("Up to date.")
    assert not [path for path in paths if path.startswith(("/users", "/roles"))]


def test_screenshot_of_the_admin_panel(page: Page, web_server: WebServer, tmp_path: Path) -> None:
    admin = web_server.make_user("admin", roles=("admin", "user"))
    web_server.make_user("alice")
    web_server.make_user("bob", roles=("user",))
    carol = web_server.make_user("carol", roles=())
    created = web_server.call(
        admin, "POST", "/roles", json={"name": "editor", "description": "Edits shared notes"}
    )
    assert created.status_code == 201
    assert web_server.call(admin, "PATCH", f"/users/{carol.id}", json={"disabled": True}).is_success
    page.goto(web_server.url)
    log_in(page, admin)
    panel = page.get_by_role("region", name="Administration")
    row = panel.locator('tr:has-text("alice")')
    row.get_by_label("Role to grant to alice").select_option("editor")
    row.get_by_role("button", name="Grant").click()
    expect(panel.get_by_role("status")).to_have_text("Granted editor to alice.")
    save_screenshot(page, "screenshot-admin.png", tmp_path, part=panel)
