"""The care a client owes its people: addresses, confirmations, messages that replace each
other, errors where the action was taken, an explanation instead of an empty list, and an
accessible name on every control."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import Locator, Page, Request, Route, expect

from tests.conftest import DEFAULT_PASSWORD
from tests.web.conftest import WebServer, log_in

pytestmark = pytest.mark.browser

SOMETHING = re.compile(r"\S")

UNNAMED_CONTROLS = """() => [...document.querySelectorAll("button, input, select, textarea, a")]
  .filter((node) => node.getClientRects().length > 0)
  .filter((node) => {
    const labelled = node.labels && node.labels.length > 0;
    const aria = node.getAttribute("aria-label") || node.getAttribute("aria-labelledby");
    const text = ["BUTTON", "A"].includes(node.tagName) && node.textContent.trim() !== "";
    return !(labelled || aria || text);
  })
  .map((node) => node.outerHTML.slice(0, 120))"""


def said(page: Page) -> list[str]:
    """Every non-empty status and alert in the page."""
    messages = page.locator('[role="status"], [role="alert"]').filter(has_text=SOMETHING)
    return [text.strip() for text in messages.all_inner_texts()]


def test_views_have_addresses_and_back_and_forward_work(page: Page, web_server: WebServer) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    page.goto(web_server.url)
    log_in(page, admin)
    expect(page).to_have_url(f"{web_server.url}/#/notes")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Notes")).to_have_attribute("aria-current", "page")

    nav.get_by_role("link", name="Account").click()
    expect(page).to_have_url(f"{web_server.url}/#/account")
    expect(page.get_by_role("heading", name="Your account")).to_be_focused()
    expect(page).to_have_title("Account · notes-api")
    nav.get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", name="Audit trail", level=1)).to_be_focused()

    page.go_back()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(nav.get_by_role("link", name="Account")).to_have_attribute("aria-current", "page")
    page.go_back()
    expect(page.get_by_role("region", name="New note")).to_be_visible()
    page.go_forward()
    page.go_forward()
    expect(page.get_by_role("heading", name="Audit trail", level=1)).to_be_visible()

    page.reload()  # the address and the login of this tab survive a reload
    expect(page.get_by_role("heading", name="Audit trail", level=1)).to_be_visible()


def test_an_address_opened_before_logging_in_opens_after_it(
    page: Page, web_server: WebServer
) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    page.goto(f"{web_server.url}/#/admin")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    log_in(page, admin)
    expect(page.get_by_role("heading", name="Administration", level=1)).to_be_focused()
    expect(page).to_have_url(f"{web_server.url}/#/admin")


def test_an_unknown_address_says_so(page: Page, web_server: WebServer) -> None:
    alice = web_server.make_user("alice")
    page.goto(web_server.url)
    log_in(page, alice)
    page.goto(f"{web_server.url}/#/no-such-view")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.get_by_role("link", name="Go to your notes").click()
    expect(page.get_by_role("region", name="New note")).to_be_visible()


def test_a_person_without_administration_gets_no_administration(
    page: Page, web_server: WebServer
) -> None:
    alice = web_server.make_user("alice")
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))
    page.goto(web_server.url)
    log_in(page, alice)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Notes", "Account"])

    page.goto(f"{web_server.url}/#/admin")
    expect(page.get_by_role("heading", name="Not available to your account")).to_be_visible()
    paths = [request.url.removeprefix(web_server.url) for request in sent]
    # The page asks the server whether this person administers (GET /roles: 403) and
    # never asks for users or the audit trail.
    assert paths.count("/roles") == 1
    assert not [path for path in paths if path.startswith(("/users", "/audit"))]


def test_a_person_without_a_role_for_notes_is_told_why_and_what_to_do(
    page: Page, web_server: WebServer
) -> None:
    carol = web_server.make_user("carol", roles=())
    page.goto(web_server.url)
    log_in(page, carol)
    expect(page.locator("#session-roles")).to_have_text("none")
    expect(page.get_by_role("heading", name="You cannot keep notes yet")).to_be_visible()
    expect(
        page.get_by_text("Your account has no role, and keeping notes needs one.")
    ).to_contain_text("The server says: “Requires one of the roles: admin, user”.")
    expect(page.get_by_text("Ask an administrator")).to_be_visible()
    expect(page.get_by_role("region", name="New note")).to_be_hidden()
    expect(page.get_by_text("No notes yet.")).to_be_hidden()


def test_a_person_with_only_other_roles_is_told_which_they_have(
    page: Page, web_server: WebServer
) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    created = web_server.call(admin, "POST", "/roles", json={"name": "auditor"})
    assert created.status_code == 201
    dave = web_server.make_user("dave", roles=("auditor",))
    page.goto(web_server.url)
    log_in(page, dave)
    expect(page.get_by_text("None of your roles (auditor) lets you keep notes.")).to_be_visible()


def test_cancelling_a_confirmation_changes_nothing_and_gives_the_focus_back(
    page: Page, web_server: WebServer
) -> None:
    alice = web_server.make_user("alice")
    web_server.add_note(alice, "Keep me")
    deletes: list[str] = []
    page.on(
        "request",
        lambda request: deletes.append(request.url) if request.method == "DELETE" else None,
    )
    page.goto(web_server.url)
    log_in(page, alice)
    note = page.get_by_role("list", name="Your notes").get_by_role("listitem")
    delete = note.get_by_role("button", name="Delete")

    delete.click()
    dialog = page.get_by_role("alertdialog", name="Delete the note “Keep me”?")
    expect(dialog).to_contain_text("A deleted note cannot be brought back.")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Enter")  # Enter on the focused "Cancel": nothing is deleted
    expect(dialog).to_have_count(0)
    expect(delete).to_be_focused()

    delete.click()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(delete).to_be_focused()
    expect(note).to_have_count(1)
    assert deletes == []
    assert [stored["title"] for stored in web_server.notes(alice)] == ["Keep me"]


def test_messages_replace_each_other(page: Page, web_server: WebServer) -> None:
    alice = web_server.make_user("alice")
    page.goto(web_server.url)
    log_in(page, alice)
    form = page.get_by_role("region", name="New note")
    form.get_by_label("Title").fill("First")
    form.get_by_role("button", name="Add note").click()
    expect(form.get_by_role("status")).to_have_text("Note added.")

    note = page.get_by_role("list", name="Your notes").get_by_role("listitem")
    note.get_by_role("button", name="Edit").click()
    note.get_by_label("Title").fill("   ")
    note.get_by_role("button", name="Save").click()
    expect(note.get_by_role("alert")).to_have_text("The title must not be empty.")
    assert said(page) == ["The title must not be empty."]

    note.get_by_label("Title").fill("First, edited")
    note.get_by_role("button", name="Save").click()
    expect(note.get_by_role("status")).to_have_text("Note saved.")
    assert said(page) == ["Note saved."]


def test_an_error_is_shown_where_the_action_was_taken(page: Page, web_server: WebServer) -> None:
    alice = web_server.make_user("alice")
    gone = web_server.add_note(alice, "Deleted elsewhere")
    web_server.add_note(alice, "Still here")
    page.goto(web_server.url)
    log_in(page, alice)
    assert web_server.call(alice, "DELETE", f"/notes/{gone}").status_code == 204

    notes = page.get_by_role("list", name="Your notes").get_by_role("listitem")
    stale = notes.nth(1)  # newest first
    expect(stale).to_contain_text("Deleted elsewhere")
    stale.get_by_role("button", name="Edit").click()
    stale.get_by_label("Body").fill("too late")
    stale.get_by_role("button", name="Save").click()
    expect(stale.get_by_role("alert")).to_have_text("Note not found")
    assert said(page) == ["Note not found"]

    def unavailable(route: Route) -> None:
        route.fulfill(status=503, json={"detail": "Database unavailable"})

    page.route(f"{web_server.url}/notes", unavailable)
    form = page.get_by_role("region", name="New note")
    form.get_by_label("Title").fill("During an outage")
    form.get_by_role("button", name="Add note").click()
    expect(form.get_by_role("alert")).to_have_text("Database unavailable")
    expect(form.get_by_label("Title")).to_have_value("During an outage")  # nothing typed is lost
    assert said(page) == ["Database unavailable"]


@pytest.mark.parametrize(
    "address", ["#/notes", "#/notes?owner=all", "#/account", "#/admin", "#/audit"]
)
def test_every_control_has_an_accessible_name(
    page: Page, web_server: WebServer, address: str
) -> None:
    admin = web_server.make_user("root", roles=("admin", "user"))
    bob = web_server.make_user("bob")
    web_server.add_note(bob, "Bob's note", source="b.md")
    page.goto(f"{web_server.url}/{address}")
    log_in(page, admin)
    expect(page.locator(".view-title")).to_be_focused()
    page.wait_for_load_state("networkidle")
    assert page.evaluate(UNNAMED_CONTROLS) == []


def test_every_control_of_the_login_form_has_an_accessible_name(
    page: Page, web_server: WebServer
) -> None:
    page.goto(web_server.url)
    page.get_by_text("Server", exact=True).click()  # the API base URL field too
    expect(page.get_by_role("button", name="Use this server")).to_be_visible()
    assert page.evaluate(UNNAMED_CONTROLS) == []


def test_every_control_of_the_login_s_second_step_has_an_accessible_name(
    page: Page, web_server: WebServer
) -> None:
    alice = web_server.make_user("alice")
    started = web_server.call(alice, "POST", "/account/mfa/totp")
    code = pyotp.TOTP(started.json()["secret"]).now()
    web_server.call(alice, "POST", "/account/mfa/totp/confirm", json={"code": code})
    page.goto(web_server.url)
    page.get_by_label("Username").fill(alice.username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_label("Code")).to_be_focused()
    assert page.evaluate(UNNAMED_CONTROLS) == []


@pytest.mark.parametrize(
    ("address", "heading"),
    [
        ("#/forgot-password", "Forgot your password?"),
        ("#/reset-password?token=abc", "Choose a new password"),
    ],
)
def test_every_control_of_the_public_views_has_an_accessible_name(
    page: Page, web_server: WebServer, address: str, heading: str
) -> None:
    page.goto(f"{web_server.url}/{address}")
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_focused()
    assert page.evaluate(UNNAMED_CONTROLS) == []


def test_every_control_of_an_open_confirmation_has_an_accessible_name(
    page: Page, web_server: WebServer
) -> None:
    alice = web_server.make_user("alice")
    web_server.add_note(alice, "Keep me")
    page.goto(web_server.url)
    log_in(page, alice)
    page.get_by_role("list", name="Your notes").get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("alertdialog", name="Delete the note “Keep me”?")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    assert page.evaluate(UNNAMED_CONTROLS) == []


def test_every_control_of_the_second_factor_enrollment_has_an_accessible_name(
    page: Page, web_server: WebServer
) -> None:
    alice = web_server.make_user("alice")
    page.goto(f"{web_server.url}/#/account")
    log_in(page, alice)
    section = page.get_by_role("region", name="Second factor")
    section.get_by_role("button", name="Set up a second factor").click()
    qr = section.get_by_role("img", name="QR code to scan with your authenticator app")
    expect(qr).to_be_visible()
    assert page.evaluate(UNNAMED_CONTROLS) == []


def tab_to(page: Page, target: Locator, presses: int = 20) -> None:
    """Press Tab until `target` has the focus, as a keyboard user moves through the page."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if target.evaluate("(node) => node === document.activeElement"):
            return
    raise AssertionError(f"{presses} presses of Tab never reached {target}")


def test_a_keyboard_alone_logs_in_and_deletes_a_note_after_confirming(
    page: Page, web_server: WebServer
) -> None:
    alice = web_server.make_user("alice")
    web_server.add_note(alice, "Old list")
    page.goto(web_server.url)
    expect(page.get_by_label("Username")).to_be_focused()  # typing can start at once
    page.keyboard.type(alice.username)
    page.keyboard.press("Tab")
    page.keyboard.type(DEFAULT_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_text("Signed in as")).to_contain_text(alice.username)

    note = page.get_by_role("list", name="Your notes").get_by_role("listitem")
    tab_to(page, note.get_by_role("button", name="Delete"))
    page.keyboard.press("Enter")
    dialog = page.get_by_role("alertdialog", name="Delete the note “Old list”?")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(dialog.get_by_role("button", name="Delete note")).to_be_focused()
    page.keyboard.press("Enter")
    expect(note).to_have_count(0)
    assert web_server.notes(alice) == []
