"""The web page as a person uses it: log in, keep notes, page through them, log out."""

from __future__ import annotations

import re
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import Locator, Page, Route, expect

from tests.web.conftest import WebServer, log_in, save_screenshot

pytestmark = pytest.mark.browser

READ_REFRESH_TOKEN = (
    "() => JSON.parse(sessionStorage.getItem('notes-api.refresh') ?? 'null')?.refreshToken ?? null"
)


def notes_list(page: Page) -> Locator:
    return page.get_by_role("list", name="Your notes")


def add_note(page: Page, title: str, body: str = "", source: str = "") -> None:
    form = page.get_by_role("region", name="New note")
    form.get_by_label("Title").fill(title)
    form.get_by_label("Body").fill(body)
    form.get_by_label("Source").fill(source)
    form.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("status").filter(has_text="Note added.")).to_be_visible()


def test_log_in_add_edit_and_delete_a_note(page: Page, web_server: WebServer) -> None:
    alice = web_server.make_user("alice")
    page.goto(web_server.url)
    log_in(page, alice)
    expect(page.locator("#session-roles")).to_have_text("user")
    expect(page.get_by_role("region", name="Administration")).to_be_hidden()

    add_note(page, "Groceries", "Milk\nBread", source="lists.md")
    note = notes_list(page).get_by_role("listitem")
    expect(note).to_have_count(1)
    expect(note).to_contain_text("Groceries")
    expect(note).to_contain_text("source: lists.md")
    expect(note.locator(".body")).to_have_text("Milk\nBread")
    (stored,) = web_server.notes(alice)
    assert (stored["title"], stored["body"], stored["source"]) == (
        "Groceries",
        "Milk\nBread",
        "lists.md",
    )

    note.get_by_role("button", name="Edit").click()
    edit = note.get_by_role("form", name="Edit note Groceries")
    edit.get_by_label("Title").fill("Groceries for Sunday")
    edit.get_by_label("Source").fill("")
    edit.get_by_role("button", name="Save").click()
    expect(note.get_by_role("heading")).to_have_text("Groceries for Sunday")
    expect(note).not_to_contain_text("source:")
    (stored,) = web_server.notes(alice)
    assert (stored["title"], stored["body"], stored["source"]) == (
        "Groceries for Sunday",
        "Milk\nBread",
        None,
    )

    note.get_by_role("button", name="Delete").click()
    page.get_by_role("alertdialog", name="Delete the note “Groceries for Sunday”?").get_by_role(
        "button", name="Delete note"
    ).click()
    expect(note).to_have_count(0)
    expect(page.get_by_text("No notes yet.")).to_be_visible()
    assert web_server.notes(alice) == []


def test_wrong_password_shows_an_alert(page: Page, web_server: WebServer) -> None:
    alice = web_server.make_user("alice")
    page.goto(web_server.url)
    page.get_by_label("Username").fill(alice.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid username or password")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_be_hidden()
    assert page.evaluate(READ_REFRESH_TOKEN) is None


def test_empty_login_form_is_refused_before_any_request(page: Page, web_server: WebServer) -> None:
    page.goto(web_server.url)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url.removeprefix(web_server.url)))
    page.get_by_label("Username").fill("alice")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Enter your username and password.")
    expect(page.get_by_label("Password")).to_be_focused()
    assert [path for path in sent if not path.startswith("/static/")] == []


def test_log_out_revokes_the_login_and_forgets_the_tokens(
    page: Page, web_server: WebServer
) -> None:
    alice = web_server.make_user("alice")
    page.goto(web_server.url)
    log_in(page, alice)
    refresh_token = page.evaluate(READ_REFRESH_TOKEN)
    assert refresh_token

    with page.expect_response("**/token/revoke") as revoked:
        page.get_by_role("button", name="Log out", exact=True).click()
    assert revoked.value.status == 200
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_focused()
    assert page.evaluate(READ_REFRESH_TOKEN) is None

    reuse = httpx2.post(
        f"{web_server.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        timeout=10,
    )
    assert reuse.status_code == 400
    page.reload()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_the_next_user_on_the_same_tab_starts_clean(page: Page, web_server: WebServer) -> None:
    alice, bob = web_server.make_user("alice"), web_server.make_user("bob")
    web_server.add_note(alice, "Alice's secret", source="diary.md")
    web_server.add_note(bob, "Bob's list")
    page.goto(web_server.url)
    log_in(page, alice)
    page.get_by_label("Filter by source").fill("diary.md")
    page.get_by_role("button", name="Filter").click()
    expect(notes_list(page)).to_contain_text("Alice's secret")
    page.get_by_role("region", name="New note").get_by_label("Title").fill("Half-typed")
    page.get_by_role("button", name="Log out", exact=True).click()

    log_in(page, bob)
    expect(notes_list(page).get_by_role("listitem")).to_have_text([re.compile("Bob's list")])
    expect(page.get_by_label("Filter by source")).to_have_value("")
    expect(page.get_by_role("region", name="New note").get_by_label("Title")).to_have_value("")
    for status in page.get_by_role("status").all():
        expect(status).to_have_text("")


def test_reload_keeps_the_login_of_this_tab_only(page: Page, web_server: WebServer) -> None:
    alice = web_server.make_user("alice")
    web_server.add_note(alice, "Kept across reloads")
    page.goto(web_server.url)
    log_in(page, alice)
    page.reload()
    expect(page.get_by_text("Signed in as")).to_contain_text("alice")
    expect(notes_list(page)).to_contain_text("Kept across reloads")

    other_tab = page.context.new_page()  # a new tab has its own sessionStorage
    other_tab.goto(web_server.url)
    expect(other_tab.get_by_role("heading", name="Log in")).to_be_visible()
    other_tab.close()


def test_load_more_pages_with_the_cursor_and_filter_by_source(
    page: Page, web_server: WebServer
) -> None:
    alice = web_server.make_user("alice")
    for number in range(1, 26):
        web_server.add_note(alice, f"Note {number}", source="paper.pdf" if number <= 3 else "")
    page.goto(web_server.url)
    log_in(page, alice)
    items = notes_list(page).get_by_role("listitem")
    expect(items).to_have_count(20)
    expect(items.first.get_by_role("heading")).to_have_text("Note 25")

    with page.expect_request(lambda request: "cursor=" in request.url):
        page.get_by_role("button", name="Load more").click()
    expect(items).to_have_count(25)
    expect(items.last.get_by_role("heading")).to_have_text("Note 1")
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()

    page.get_by_label("Filter by source").fill("paper.pdf")
    page.get_by_role("button", name="Filter").click()
    expect(items).to_have_count(3)
    expect(page.get_by_role("status").filter(has_text="Showing")).to_have_text(
        "Showing notes with source “paper.pdf”."
    )

    add_note(page, "Unrelated", source="other.txt")  # not shown under this filter
    expect(items).to_have_count(3)
    add_note(page, "Related", source="paper.pdf")
    expect(items).to_have_count(4)

    page.get_by_role("button", name="Show all").click()
    expect(items).to_have_count(20)
    expect(page.get_by_role("button", name="Load more")).to_be_visible()


def test_user_content_is_shown_as_text_never_as_markup(page: Page, web_server: WebServer) -> None:
    alice = web_server.make_user("alice")
    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    web_server.add_note(alice, hostile, body="<b>bold?</b>", source='"><svg onload=alert(3)>')
    page.goto(web_server.url)
    log_in(page, alice)
    note = notes_list(page).get_by_role("listitem")
    expect(note.get_by_role("heading")).to_have_text(hostile)
    expect(note.locator(".body")).to_have_text("<b>bold?</b>")
    assert note.locator("img, script, svg, b").count() == 0
    # An alert() would have been recorded as a dialog by the page fixture, failing the test.


def test_a_failed_refresh_sends_the_user_back_to_the_login_form(
    page: Page, web_server: WebServer
) -> None:
    alice = web_server.make_user("alice")
    page.goto(web_server.url)
    log_in(page, alice)
    refresh_token = page.evaluate(READ_REFRESH_TOKEN)
    # The login is revoked elsewhere (another device logged out), and the server
    # now refuses the access token this page holds.
    httpx2.post(f"{web_server.url}/token/revoke", data={"token": refresh_token}, timeout=10)

    def refuse(route: Route) -> None:
        route.fulfill(
            status=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            json={"detail": "Invalid or expired access token"},
        )

    page.route("**/identify/me", refuse)
    refreshes: list[str] = []
    page.on(
        "request",
        lambda request: (
            refreshes.append(request.url)
            if request.url.endswith("/token") and "refresh_token" in (request.post_data or "")
            else None
        ),
    )
    page.get_by_role("button", name="Reload notes").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("Your session has ended. Please log in again.")
    assert len(refreshes) == 1
    assert page.evaluate(READ_REFRESH_TOKEN) is None
    expect(notes_list(page)).to_be_hidden()


def test_screenshot_of_the_notes_view(page: Page, web_server: WebServer, tmp_path: Path) -> None:
    alice = web_server.make_user("alice")
    web_server.add_note(
        alice,
        "Chapter 3: consistency models",
        "Linearizability vs. serializability; read the Jepsen notes again.",
        source="ddia.pdf",
    )
    web_server.add_note(alice, "Release checklist", "Tag, changelog, migrate, deploy.")
    web_server.add_note(
        alice,
        "Figure 2 caption",
        "Keyset paging stays stable while notes are added.",
        source="ddia.pdf",
    )
    page.goto(web_server.url)
    log_in(page, alice)
    add_note(page, "Questions for Friday", "Who owns the token refresh code?", source="meeting.md")
    page.get_by_role("region", name="New note").get_by_label("Title").blur()
    save_screenshot(page, "screenshot-notes.png", tmp_path)
