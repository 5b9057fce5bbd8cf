"""How the page holds and refreshes tokens: a real expiry, one shared refresh, another origin."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, Response, expect

from notes_api.auth.tokens import CLOCK_SKEW_LEEWAY_SECONDS
from notes_api.web import web_directory
from tests.web.conftest import StartServer, log_in

pytestmark = pytest.mark.browser


def is_refresh(request: Request) -> bool:
    return request.url.endswith("/token") and "grant_type=refresh_token" in (
        request.post_data or ""
    )


def test_an_expired_access_token_is_refreshed_once_for_concurrent_requests(
    page: Page, start_server: StartServer
) -> None:
    """A real expiry: the server issues one-minute access tokens and the test waits it out."""
    with start_server(ACCESS_TOKEN_EXPIRE_MINUTES="1") as server:
        admin = server.make_user("root", roles=("admin", "user"))
        page.goto(server.url)
        log_in(page, admin)
        logged_in_at = time.monotonic()
        server.add_note(admin, "Written elsewhere while the token aged")

        refreshes: list[Request] = []
        unauthorized: list[str] = []

        def on_request(request: Request) -> None:
            if is_refresh(request):
                refreshes.append(request)

        def on_response(response: Response) -> None:
            if response.status == 401:
                unauthorized.append(response.url)

        page.on("request", on_request)
        page.on("response", on_response)
        expired_at = logged_in_at + 60 + CLOCK_SKEW_LEEWAY_SECONDS + 2
        page.wait_for_timeout(max(0.0, expired_at - time.monotonic()) * 1000)

        # "Reload notes" sends GET /identify/me, /roles and /notes at once: all
        # three meet the expired token, and they share one refresh.
        page.get_by_role("button", name="Reload notes").click()
        expect(page.get_by_role("status").filter(has_text="reloaded")).to_have_text(
            "Notes reloaded."
        )
        expect(page.get_by_role("list", name="Your notes")).to_contain_text(
            "Written elsewhere while the token aged"
        )
        assert len(unauthorized) == 3, unauthorized
        assert len(refreshes) == 1

        # The new pair works: adding a note needs no further refresh.
        form = page.get_by_role("region", name="New note")
        form.get_by_label("Title").fill("After the refresh")
        form.get_by_role("button", name="Add note").click()
        expect(page.get_by_role("list", name="Your notes")).to_contain_text("After the refresh")
        assert len(refreshes) == 1
        expect(page.get_by_text("Signed in as")).to_be_visible()


class _StaticHandler(SimpleHTTPRequestHandler):
    """Serves web/ as any static host would, with the policy such a host should send."""

    content_security_policy = "default-src 'self'"

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", self.content_security_policy)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def static_site(directory: Path) -> Iterator[tuple[str, type[_StaticHandler]]]:
    """A static file server for `directory` on its own port: another origin than the API's."""
    handler = type("Handler", (_StaticHandler,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_the_page_on_another_origin_uses_the_configured_api(
    page: Page, start_server: StartServer
) -> None:
    """web/ on a static host of its own; the API lists that host in CORS_ORIGINS."""
    with static_site(web_directory()) as (site, handler), start_server(CORS_ORIGINS=site) as server:
        api = server.url
        handler.content_security_policy = f"default-src 'self'; connect-src 'self' {api}"
        alice = server.make_user("alice")
        page.goto(f"{site}/index.html")
        page.get_by_text("Server", exact=True).click()
        page.get_by_label("API base URL").fill(api)
        page.get_by_role("button", name="Use this server").click()
        expect(page.get_by_text(f"Server: {api}/")).to_be_visible()

        with page.expect_response(lambda response: response.url == f"{api}/token") as answered:
            log_in(page, alice)
        assert answered.value.headers["access-control-allow-origin"] == site
        form = page.get_by_role("region", name="New note")
        form.get_by_label("Title").fill("Across origins")
        form.get_by_role("button", name="Add note").click()
        expect(page.get_by_role("list", name="Your notes")).to_contain_text("Across origins")
        assert [note["title"] for note in server.notes(alice)] == ["Across origins"]
