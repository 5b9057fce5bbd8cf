"""The administration view (#/admin) and the audit trail (#/audit), one test per action.

Every control is found by its accessible name, as a screen reader user would find it.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx2
import pyotp
import pytest
from playwright.sync_api import Locator, Page, expect

from tests import conftest
from tests.conftest import DEFAULT_PASSWORD
from tests.sessions.waiting import eventually
from tests.web.conftest import WebServer, log_in, save_screenshot

pytestmark = pytest.mark.browser

SOMETHING = re.compile(r"\S")
REMOVE = "\N{MULTIPLICATION SIGN}"  # the text of a role chip's revoke button


def open_admin(page: Page, server: WebServer, admin: conftest.TestUser) -> Locator:
    page.goto(server.url)
    log_in(page, admin)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Administration").click()
    expect(page.get_by_role("heading", name="Administration", level=1)).to_be_focused()
    return page.get_by_role("region", name="Users")


def user_row(page: Page, user: conftest.TestUser) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=user.username))


def password_login(
    server: WebServer, username: str, password: str = DEFAULT_PASSWORD
) -> httpx2.Response:
    return httpx2.post(
        f"{server.url}/token", data={"username": username, "password": password}, timeout=10
    )


def can_log_in(server: WebServer, username: str, password: str = DEFAULT_PASSWORD) -> bool:
    return password_login(server, username, password).status_code == 200


def confirm(page: Page, question: str, button: str) -> None:
    dialog = page.get_by_role("alertdialog", name=question)
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    dialog.get_by_role("button", name=button).click()
    expect(dialog).to_have_count(0)


def test_admin_grants_a_role_and_revokes_one_after_confirming(
    page: Page, web_server: WebServer
) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    bob = web_server.make_user("bob")
    open_admin(page, web_server, admin)
    row = user_row(page, bob)
    roles = row.get_by_role("list", name="Roles of bob")
    expect(roles).to_have_text(f"user{REMOVE}")

    row.get_by_label("Role to grant to bob").select_option("admin")
    row.get_by_role("button", name="Grant").click()
    expect(row.get_by_role("status")).to_have_text("Granted admin to bob.")
    expect(roles.get_by_role("listitem")).to_have_count(2)
    assert sorted(web_server.call(admin, "GET", f"/users/{bob.id}").json()["roles"]) == [
        "admin",
        "user",
    ]

    row.get_by_role("button", name="Revoke user from bob").click()
    confirm(page, "Revoke user from bob?", "Revoke user")
    expect(row.get_by_role("status")).to_have_text("Revoked user from bob.")
    expect(roles.get_by_role("listitem")).to_have_text([f"admin{REMOVE}"])
    assert web_server.call(admin, "GET", f"/users/{bob.id}").json()["roles"] == ["admin"]


def test_admin_disables_a_user_after_confirming_and_enables_them_again(
    page: Page, web_server: WebServer
) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    bob = web_server.make_user("bob")
    open_admin(page, web_server, admin)
    row = user_row(page, bob)
    row.get_by_role("button", name="Disable bob").click()
    confirm(page, "Disable bob?", "Disable bob")
    expect(row.get_by_role("status")).to_have_text("Disabled bob.")
    expect(row).to_contain_text("disabled")
    assert not can_log_in(web_server, "bob")

    row.get_by_role("button", name="Enable bob").click()  # harmless: no confirmation
    expect(row.get_by_role("status")).to_have_text("Enabled bob.")
    assert can_log_in(web_server, "bob")


def test_admin_cannot_disable_themselves_from_the_panel(page: Page, web_server: WebServer) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    open_admin(page, web_server, admin)
    row = user_row(page, admin)
    expect(row).to_contain_text("(you)")
    expect(row.get_by_role("button", name="Disable root")).to_have_count(0)


def test_admin_creates_a_user_with_roles_email_and_an_initial_password(
    page: Page, web_server: WebServer
) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    open_admin(page, web_server, admin)
    form = page.get_by_role("form", name="New user")
    form.get_by_label("Username").fill("carol")
    form.get_by_label("Email (optional)").fill("carol@example.org")
    form.get_by_label("Initial password").fill("a long initial password")
    form.get_by_role("group", name="Roles").get_by_label("user", exact=True).check()
    form.get_by_role("button", name="Create user").click()
    expect(form.get_by_role("status")).to_have_text("Created user carol (roles: user).")
    expect(form.get_by_label("Username")).to_have_value("")
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="carol"))
    expect(row.get_by_role("list", name="Roles of carol")).to_have_text(f"user{REMOVE}")
    expect(row).to_contain_text("carol@example.org")
    assert can_log_in(web_server, "carol", "a long initial password")


def test_admin_sees_why_a_new_user_was_refused_in_the_form(
    page: Page, web_server: WebServer
) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    web_server.make_user("bob")
    open_admin(page, web_server, admin)
    form = page.get_by_role("form", name="New user")
    form.get_by_label("Username").fill("bob")
    form.get_by_label("Initial password").fill("a long initial password")
    form.get_by_role("button", name="Create user").click()
    expect(form.get_by_role("alert")).to_have_text("Username 'bob' is already taken")

    form.get_by_label("Username").fill("dave")
    form.get_by_label("Initial password").fill("short")
    form.get_by_role("button", name="Create user").click()
    expect(form.get_by_role("alert")).to_contain_text("password")
    assert not can_log_in(web_server, "dave", "short")


def test_admin_sets_a_users_password_which_ends_their_logins(
    page: Page, web_server: WebServer
) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    bob = web_server.make_user("bob")
    bobs_login = httpx2.post(
        f"{web_server.url}/token",
        data={"username": "bob", "password": DEFAULT_PASSWORD},
        timeout=10,
    ).json()["refresh_token"]
    open_admin(page, web_server, admin)
    row = user_row(page, bob)
    opener = row.get_by_role("button", name="Set password of bob")
    opener.click()
    expect(opener).to_have_attribute("aria-expanded", "true")
    form = row.get_by_role("form", name="New password for bob")
    expect(form.get_by_label("New password for bob")).to_be_focused()
    form.get_by_label("New password for bob").fill("the new password")
    form.get_by_role("button", name="Save password").click()
    expect(row.get_by_role("status")).to_have_text(
        "Set a new password for bob; their logins have ended."
    )
    expect(form).to_have_count(0)
    assert can_log_in(web_server, "bob", "the new password")
    assert not can_log_in(web_server, "bob")
    refreshed = httpx2.post(
        f"{web_server.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": bobs_login},
        timeout=10,
    )
    assert refreshed.status_code == 400


def test_admin_creates_a_role_grants_it_and_deletes_it_after_confirming(
    page: Page, web_server: WebServer
) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    bob = web_server.make_user("bob")
    open_admin(page, web_server, admin)
    roles = page.get_by_role("region", name="Roles")
    form = roles.get_by_role("form", name="New role")
    form.get_by_label("Role name").fill("editor")
    form.get_by_label("Description (optional)").fill("Edits shared notes")
    form.get_by_role("button", name="Create role").click()
    expect(roles.get_by_role("status")).to_have_text("Created the role editor.")
    expect(roles.get_by_role("row", name="editor")).to_contain_text("Edits shared notes")
    # The new role is offered at once, in every row and in the new-user form.
    row = user_row(page, bob)
    row.get_by_label("Role to grant to bob").select_option("editor")
    row.get_by_role("button", name="Grant").click()
    expect(row.get_by_role("list", name="Roles of bob")).to_contain_text("editor")
    expect(page.get_by_role("group", name="Roles").get_by_label("editor")).to_be_visible()

    roles.get_by_role("button", name="Delete role editor").click()
    confirm(page, "Delete the role editor?", "Delete role editor")
    expect(roles.get_by_role("status")).to_have_text("Deleted the role editor.")
    expect(roles.get_by_role("row", name="editor")).to_have_count(0)
    expect(row.get_by_role("list", name="Roles of bob")).not_to_contain_text("editor")
    names = [role["name"] for role in web_server.call(admin, "GET", "/roles").json()]
    assert "editor" not in names


def test_deleting_a_built_in_role_is_refused_in_the_roles_section(
    page: Page, web_server: WebServer
) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    open_admin(page, web_server, admin)
    roles = page.get_by_role("region", name="Roles")
    roles.get_by_role("button", name="Delete role user").click()
    confirm(page, "Delete the role user?", "Delete role user")
    expect(roles.get_by_role("alert")).to_have_text("Built-in role 'user' cannot be deleted")
    expect(roles.get_by_role("rowheader", name="user", exact=True)).to_be_visible()


def test_the_last_administrator_is_told_why_they_keep_their_role_in_their_row(
    page: Page, web_server: WebServer
) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    web_server.make_user("bob")
    open_admin(page, web_server, admin)
    row = user_row(page, admin)
    row.get_by_role("button", name="Revoke admin from root").click()
    confirm(page, "Revoke admin from root?", "Revoke admin")
    expect(row.get_by_role("alert")).to_have_text(
        "The last enabled administrator must stay an enabled administrator"
    )
    said = page.get_by_role("region", name="Users").get_by_role("alert").filter(has_text=SOMETHING)
    expect(said).to_have_count(1)


def test_admin_ends_a_users_sessions_after_confirming(page: Page, web_server: WebServer) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    bob = web_server.make_user("bob")
    bobs_token = web_server.token(bob)
    open_admin(page, web_server, admin)
    row = user_row(page, bob)

    row.get_by_role("button", name="End sessions of bob").click()
    confirm(page, "End every session of bob?", "End sessions of bob")
    expect(row.get_by_role("status")).to_have_text("Ended every session of bob.")
    expect(row.get_by_role("alert")).to_have_text("")
    assert eventually(
        lambda: (
            httpx2.get(
                f"{web_server.url}/identify/me", headers={"Authorization": f"Bearer {bobs_token}"}
            ).status_code
            == 401
        )
    )


def test_admin_removes_a_users_second_factor_after_confirming(
    page: Page, web_server: WebServer
) -> None:
    """A lost phone: once the factor is removed, the password alone logs the user in."""
    admin = web_server.make_user("root", roles=("admin", "user"))
    bob = web_server.make_user("bob")
    started = web_server.call(bob, "POST", "/account/mfa/totp")
    assert started.status_code == 201, started.text
    code = pyotp.TOTP(started.json()["secret"]).now()
    confirmed = web_server.call(bob, "POST", "/account/mfa/totp/confirm", json={"code": code})
    assert confirmed.status_code == 200, confirmed.text
    refused = password_login(web_server, bob.username)
    assert refused.status_code == 403
    assert refused.json()["error"] == "mfa_required"

    open_admin(page, web_server, admin)
    row = user_row(page, bob)
    row.get_by_role("button", name="Remove second factor of bob").click()
    confirm(page, "Remove the second factor of bob?", "Remove second factor of bob")
    expect(row.get_by_role("status")).to_have_text("Removed the second factor of bob.")
    expect(row.get_by_role("alert")).to_have_text("")
    assert can_log_in(web_server, bob.username)


def test_admin_reads_everyones_notes_and_one_users_notes(page: Page, web_server: WebServer) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    alice, bob = web_server.make_user("alice"), web_server.make_user("bob")
    web_server.add_note(alice, "Alice's plan")
    web_server.add_note(bob, "Bob's list")
    web_server.add_note(admin, "Root's memo")
    page.goto(web_server.url)
    log_in(page, admin)
    mine = page.get_by_role("list", name="Your notes").get_by_role("listitem")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("Root's memo")

    page.get_by_label("Whose notes").select_option(label="Everyone's")
    expect(page).to_have_url(f"{web_server.url}/#/notes?owner=all")
    everyone = page.get_by_role("list", name="Everyone's notes").get_by_role("listitem")
    expect(everyone).to_have_count(3)
    expect(everyone.filter(has_text="Bob's list")).to_contain_text("by bob")

    page.get_by_role("link", name="Administration").click()
    user_row(page, alice).get_by_role("link", name="Notes of alice").click()
    expect(page).to_have_url(f"{web_server.url}/#/notes?owner={alice.id}")
    alices = page.get_by_role("list", name="Notes of alice").get_by_role("listitem")
    expect(alices).to_have_count(1)
    expect(alices).to_contain_text("Alice's plan")
    # An administrator can change someone else's note from there.
    alices.get_by_role("button", name="Delete").click()
    confirm(page, "Delete the note “Alice's plan”?", "Delete note")
    expect(alices).to_have_count(0)
    assert web_server.notes(alice) == []

    page.go_back()
    expect(page.get_by_role("heading", name="Administration", level=1)).to_be_visible()
    page.go_back()
    expect(page.get_by_role("list", name="Everyone's notes")).to_be_visible()


def test_admin_pages_through_the_audit_trail(page: Page, web_server: WebServer) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    bob = web_server.make_user("bob")
    for _ in range(30):  # 60 events: more than one page of 50
        assert web_server.call(admin, "PUT", f"/users/{bob.id}/roles/admin").is_success
        assert web_server.call(admin, "DELETE", f"/users/{bob.id}/roles/admin").is_success
    page.goto(web_server.url)
    log_in(page, admin)
    page.get_by_role("link", name="Audit trail").click()
    expect(page).to_have_url(f"{web_server.url}/#/audit")
    trail = page.get_by_role("table", name="Authentication and administration events, newest first")
    events = trail.get_by_role("row").filter(has=page.get_by_role("rowheader"))
    expect(events).to_have_count(50)
    newest = events.first
    expect(newest.get_by_role("rowheader")).to_have_text("login.succeeded")
    expect(newest).to_contain_text("root")
    revoked = events.filter(has_text="role.revoked").first
    expect(revoked).to_contain_text("role: admin")
    expect(revoked).to_contain_text("bob")

    page.get_by_role("button", name="Load older events").click()
    expect(events).to_have_count(62)  # 60 role events and two logins (the test's, the page's)
    expect(page.get_by_role("button", name="Load older events")).to_be_hidden()


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
    page.set_viewport_size({"width": 1280, "height": 900})
    open_admin(page, web_server, admin)
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="alice"))
    row.get_by_label("Role to grant to alice").select_option("editor")
    row.get_by_role("button", name="Grant").click()
    expect(row.get_by_role("status")).to_have_text("Granted editor to alice.")
    save_screenshot(page, "screenshot-admin.png", tmp_path)


def test_screenshot_of_the_audit_trail(page: Page, web_server: WebServer, tmp_path: Path) -> None:
    admin = web_server.make_user("admin", roles=("admin", "user"))
    bob = web_server.make_user("bob")
    assert web_server.call(admin, "PUT", f"/users/{bob.id}/roles/admin").is_success
    assert web_server.call(admin, "PATCH", f"/users/{bob.id}", json={"disabled": True}).is_success
    assert not can_log_in(web_server, "bob", "not the password")
    page.set_viewport_size({"width": 1280, "height": 700})
    page.goto(f"{web_server.url}/#/audit")
    log_in(page, admin)
    expect(page.get_by_role("heading", name="Audit trail", level=1)).to_be_visible()
    expect(page.get_by_role("rowheader", name="user.disabled")).to_be_visible()
    save_screenshot(page, "screenshot-audit.png", tmp_path)
