"""Browser tests: Debian's Chromium driven by Playwright against a real `notes-api serve`.

Each test gets its own server process on a fresh migrated SQLite file (the page
does not care which database answers; every database behaviour is tested over
HTTP on both). Chromium is Debian's `/usr/bin/chromium` (`make test` and
.ci/run install it); Playwright never downloads a browser. Without Chromium the
browser tests skip locally and fail in CI.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    expect,
    sync_playwright,
)
from sqlalchemy import Engine

from tests.conftest import DEFAULT_PASSWORD, TEST_SECRET, TestUser, insert_user
from tests.databases import fresh_sqlite, sync_engine
from tests.servers import running_server
from tests.web.playwright_bounds import close_within, within_bound

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"
UPDATE_SCREENSHOTS = os.environ.get("UPDATE_SCREENSHOTS") == "1"


# Package scope, not session: while Playwright's sync API runs, the thread's asyncio loop
# counts as running, and asyncio.run() in any other test would refuse. The browser ends when
# a run of tests/web files does (under pytest-xdist a worker may enter tests/web several times).
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        message = f"{CHROMIUM} is missing: `apt-get install -y chromium` (make test does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        close_within(chromium.close, "The browser")


@pytest.fixture
def page_problems() -> list[str]:
    """What went wrong in the page: script and console errors (CSP, Trusted Types), dialogs.

    The `page` fixture fails the test if any are left at the end; a test that
    expects one removes it.
    """
    return []


@pytest.fixture
def page(browser: Browser, page_problems: list[str]) -> Iterator[Page]:
    context = within_bound(
        lambda: browser.new_context(
            viewport={"width": 1100, "height": 800}, locale="en-US", timezone_id="UTC"
        ),
        "Opening a browser context",
    )
    context.set_default_timeout(10_000)
    expect.set_options(timeout=10_000)
    new_page = within_bound(context.new_page, "Opening a page")

    def on_console(message: ConsoleMessage) -> None:
        # An error answer (a 400 for a wrong password) is logged by Chromium and
        # expected; any other console error (CSP, Trusted Types, a bug) is not.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            page_problems.append(f"console: {message.text}")

    def on_dialog(dialog: Dialog) -> None:
        page_problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    new_page.on("console", on_console)
    new_page.on("pageerror", lambda error: page_problems.append(f"page error: {error}"))
    new_page.on("dialog", on_dialog)
    yield new_page
    close_within(context.close, "The page's browser context")
    assert not page_problems, page_problems


@dataclass
class WebServer:
    """A running `notes-api serve` and the database behind it."""

    url: str
    engine: Engine
    password_hash: str
    _tokens: dict[str, str] = field(default_factory=dict)

    def make_user(self, username: str, roles: tuple[str, ...] = ("user",)) -> TestUser:
        return insert_user(self.engine, username, self.password_hash, roles)

    def token(self, user: TestUser) -> str:
        """An access token for `user`, obtained over HTTP (cached per user)."""
        if user.username not in self._tokens:
            response = httpx2.post(
                f"{self.url}/token",
                data={"username": user.username, "password": DEFAULT_PASSWORD},
                timeout=10,
            )
            assert response.status_code == 200, response.text
            self._tokens[user.username] = response.json()["access_token"]
        return self._tokens[user.username]

    def call(self, user: TestUser, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        headers = {"Authorization": f"Bearer {self.token(user)}"}
        return httpx2.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)

    def add_note(
        self, user: TestUser, title: str, body: str = "", source: str | None = None
    ) -> int:
        payload: dict[str, str] = {"title": title, "body": body}
        if source:
            payload["source"] = source
        response = self.call(user, "POST", "/notes", json=payload)
        assert response.status_code == 201, response.text
        note_id: int = response.json()["id"]
        return note_id

    def notes(self, user: TestUser) -> list[dict[str, Any]]:
        response = self.call(user, "GET", "/notes", params={"limit": 100})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


StartServer = Callable[..., AbstractContextManager[WebServer]]


@pytest.fixture
def start_server(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory, default_password_hash: str
) -> StartServer:
    """`with start_server(ACCESS_TOKEN_EXPIRE_MINUTES="1") as server:` a server with extra env."""

    @contextmanager
    def start(**env: str) -> Iterator[WebServer]:
        database_url = fresh_sqlite(sqlite_template, tmp_path_factory.mktemp("web"))
        server_env = {
            "DATABASE_URL": database_url,
            "JWT_SECRET_KEY": TEST_SECRET,
            "APP_ENV": "development",
            **env,
        }
        with sync_engine(database_url) as engine, running_server(server_env) as url:
            yield WebServer(url=url, engine=engine, password_hash=default_password_hash)

    return start


@pytest.fixture
def web_server(start_server: StartServer) -> Iterator[WebServer]:
    with start_server() as server:
        yield server


def log_in(page: Page, user: TestUser, password: str = DEFAULT_PASSWORD) -> None:
    """Fill the login form as a person would, and wait for the notes view."""
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Signed in as")).to_contain_text(user.username)


def save_screenshot(page: Page, name: str, tmp_path: Path, part: Locator | None = None) -> Path:
    """A screenshot of the whole page, or of `part`, for the README.

    Written to docs/ only with UPDATE_SCREENSHOTS=1 (`make screenshots`), so that
    an ordinary test run leaves the work tree clean; to `tmp_path` otherwise.
    """
    target = (DOCS_DIR if UPDATE_SCREENSHOTS else tmp_path) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if part is None:
        page.screenshot(path=str(target), animations="disabled", full_page=True)
    else:
        part.screenshot(path=str(target), animations="disabled")
    assert target.stat().st_size > 0
    return target
