"""GET /metrics: who may read it, and what the series say about the requests served."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from notes_api import metrics
from notes_api.auth import passwords
from notes_api.main import create_app
from notes_api.sessions import service as sessions_service
from tests.conftest import DEFAULT_PASSWORD, MakeUser, bearer, login, make_settings
from tests.databases import POSTGRES_URL
from tests.operations.scrape import Series, label_values, parse, value

Headers = Callable[..., dict[str, str]]


@pytest.fixture
def scraper(auth_headers: Headers) -> dict[str, str]:
    return auth_headers(roles=["metrics"])


def scrape(client: TestClient, headers: dict[str, str]) -> Series:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return parse(response.text)


def test_metrics_without_a_token_is_401(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_metrics_with_a_token_lacking_the_roles_is_403(
    client: TestClient, auth_headers: Headers
) -> None:
    response = client.get("/metrics", headers=auth_headers(roles=["user"]))
    assert response.status_code == 403
    assert 'scope="admin metrics"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("role", ["metrics", "admin"])
def test_metrics_role_or_admin_reads_the_text_format_never_cached(
    client: TestClient, auth_headers: Headers, role: str
) -> None:
    response = client.get("/metrics", headers=auth_headers(roles=[role]))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert "# TYPE notes_api_http_requests_total counter" in response.text


def personal_token(client: TestClient, owner: str, roles: list[str]) -> dict[str, str]:
    access = login(client, owner)["access_token"]
    body = {"name": "prometheus", "roles": roles}
    created = client.post("/account/tokens", json=body, headers=bearer(access))
    assert created.status_code == 201, created.text
    return bearer(created.json()["token"])


def test_prometheus_scrapes_with_a_personal_token_holding_the_metrics_role(
    client: TestClient, make_user: MakeUser
) -> None:
    """DESIGN: Prometheus scrapes with a personal access token of a user holding `metrics`."""
    owner = make_user("prometheus", roles=["metrics"])
    response = client.get("/metrics", headers=personal_token(client, owner.username, ["metrics"]))
    assert response.status_code == 200
    assert "# TYPE notes_api_http_requests_total counter" in response.text


def test_a_personal_token_without_the_metrics_role_is_403_though_its_owner_holds_it(
    client: TestClient, make_user: MakeUser
) -> None:
    """The token's own roles count, not everything its owner holds."""
    owner = make_user("prometheus", roles=["metrics", "user"])
    response = client.get("/metrics", headers=personal_token(client, owner.username, ["user"]))
    assert response.status_code == 403
    assert 'scope="admin metrics"' in response.headers["WWW-Authenticate"]


def test_requests_are_counted_by_route_template_never_the_raw_path(
    client: TestClient, scraper: dict[str, str]
) -> None:
    before = scrape(client, scraper)
    for note_id in (123456, 654321):
        assert client.get(f"/notes/{note_id}", headers=scraper).status_code == 403
    after = scrape(client, scraper)
    labels = {"method": "GET", "route": "/notes/{note_id}", "status": "403"}
    counted = value(after, "notes_api_http_requests_total", **labels)
    assert counted - value(before, "notes_api_http_requests_total", **labels) == 2
    duration = {"method": "GET", "route": "/notes/{note_id}"}
    assert value(after, "notes_api_http_request_duration_seconds_count", **duration) >= 2
    assert not any("123456" in text for _, labels_ in after for pair in labels_ for text in pair)


def test_unmatched_paths_and_odd_methods_get_fixed_labels(
    client: TestClient, scraper: dict[str, str]
) -> None:
    assert client.get("/no/such/place?user=alice", headers=scraper).status_code == 404
    assert client.request("BREW", "/healthz").status_code == 405
    assert client.get("/static/no-such-file.css").status_code == 404
    text = client.get("/metrics", headers=scraper).text
    series = parse(text)
    assert (
        value(
            series, "notes_api_http_requests_total", method="GET", route="unmatched", status="404"
        )
        >= 1
    )
    assert (
        value(
            series, "notes_api_http_requests_total", method="other", route="/healthz", status="405"
        )
        >= 1
    )
    assert (
        value(
            series,
            "notes_api_http_requests_total",
            method="GET",
            route="/static/{path}",
            status="404",
        )
        >= 1
    )
    for raw in ("/no/such/place", "alice", "BREW", "no-such-file"):
        assert raw not in text
    routes = label_values(series, "notes_api_http_requests_total", "route")
    assert all(route == "unmatched" or route.startswith("/") for route in routes)


def test_logins_are_counted_by_outcome(
    client: TestClient, scraper: dict[str, str], make_user: MakeUser
) -> None:
    user = make_user()
    before = scrape(client, scraper)
    login(client, user.username)
    for _ in range(5):
        failed = client.post("/token", data={"username": user.username, "password": "wrong-pass"})
        assert failed.status_code == 400
    throttled = client.post(
        "/token", data={"username": user.username, "password": DEFAULT_PASSWORD}
    )
    assert throttled.status_code == 429
    after = scrape(client, scraper)

    def counted(outcome: str) -> float:
        name = "notes_api_logins_total"
        return value(after, name, outcome=outcome) - value(before, name, outcome=outcome)

    assert (counted("succeeded"), counted("failed"), counted("throttled")) == (1, 5, 1)
    assert ("notes_api_logins_total", frozenset({("outcome", "mfa_required")})) in after


def test_refresh_token_reuse_is_counted(
    client: TestClient, scraper: dict[str, str], make_user: MakeUser
) -> None:
    tokens = login(client, make_user().username)
    before = value(scrape(client, scraper), "notes_api_refresh_reuse_total")
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert client.post("/token", data=refresh).status_code == 200
    assert client.post("/token", data=refresh).status_code == 400
    assert value(scrape(client, scraper), "notes_api_refresh_reuse_total") - before == 1


def test_pool_and_hashing_gauges_are_exported(client: TestClient, scraper: dict[str, str]) -> None:
    series = scrape(client, scraper)
    assert label_values(series, "notes_api_db_pool_connections", "state") >= {
        "in_use",
        "idle",
        "waiting",
    }
    assert value(series, "notes_api_db_pool_max_connections") >= 1
    assert value(series, "notes_api_db_pool_connections", state="in_use") >= 0
    assert ("notes_api_password_hashes_queued", frozenset()) in series
    assert ("notes_api_password_hashes_running", frozenset()) in series
    assert value(series, "process_resident_memory_bytes") > 0


def test_logins_waiting_for_and_in_the_hashing_threads_move_the_hashing_gauges(
    database_url: str, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every hashing thread held by a login's verification, and one login more queued
    behind them: the scrape shows both, and both back at 0 once they are answered."""
    threads = passwords.HASHING_THREADS
    logins = threads + 1
    users = [make_user() for _ in range(logins)]
    # One client address for all: let it have them all in flight at once.
    app = create_app(make_settings(database_url, login_max_in_flight_per_address=logins))
    with TestClient(app) as client, ThreadPoolExecutor(max_workers=logins) as pool:
        scraper = bearer(login(client, make_user(roles=["metrics"]).username)["access_token"])
        release = threading.Event()

        def held(password: str, hashed: str) -> tuple[bool, str | None]:
            release.wait(timeout=60)
            return passwords.verify_password(password, hashed)

        monkeypatch.setattr(sessions_service, "verify_password", held)
        answers = [pool.submit(login, client, user.username) for user in users]
        try:
            deadline = time.monotonic() + 30
            while (gauges := hashing_gauges(scrape(client, scraper))) != (1, threads):
                assert time.monotonic() < deadline, gauges  # (queued, running)
                time.sleep(0.05)
        finally:
            release.set()
        for answer in answers:
            answer.result(timeout=60)
        assert hashing_gauges(scrape(client, scraper)) == (0, 0)


def hashing_gauges(series: Series) -> tuple[float, float]:
    return (
        value(series, "notes_api_password_hashes_queued"),
        value(series, "notes_api_password_hashes_running"),
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.skipif(POSTGRES_URL is None, reason="needs TEST_DATABASE_URL")
def test_the_pool_gauges_count_the_read_paths_connections_too(
    client: TestClient, scraper: dict[str, str], auth_headers: Headers
) -> None:
    """On PostgreSQL the note reads hold connections of their own beside the engine's:
    the gauge counts both pools together, 20; the revocation listener's one connection is
    not pooled, and makes the worker's budget 21 (docs/deploy.md, the connection budget)."""
    assert client.get("/notes", headers=auth_headers()).status_code == 200
    series = scrape(client, scraper)
    assert value(series, "notes_api_db_pool_max_connections") == 20
    held = sum(value(series, "notes_api_db_pool_connections", state=s) for s in ("in_use", "idle"))
    assert held >= 2  # the read path's connection and the engine's (the logins')


def test_the_revocation_set_reports_through_its_hook(
    client: TestClient, scraper: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "_revocation_probe", None)
    metrics.watch_revocation_set(entries=lambda: 42, is_current=lambda: False)
    series = scrape(client, scraper)
    assert value(series, "notes_api_revocation_entries") == 42
    assert value(series, "notes_api_revocation_listener_up") == 0


def test_sessions_ended_are_counted_by_the_cause_given(
    client: TestClient, scraper: dict[str, str]
) -> None:
    before = value(scrape(client, scraper), "notes_api_sessions_ended_total", cause="logout")
    metrics.record_session_ended("logout", 3)
    after = value(scrape(client, scraper), "notes_api_sessions_ended_total", cause="logout")
    assert after - before == 3


def test_a_logout_counts_one_session_ended_by_logout(
    client: TestClient, scraper: dict[str, str], make_user: MakeUser
) -> None:
    tokens = login(client, make_user().username)
    name = "notes_api_sessions_ended_total"
    before = value(scrape(client, scraper), name, cause="logout")
    assert client.post("/token/revoke", data={"token": tokens["refresh_token"]}).status_code == 200
    assert value(scrape(client, scraper), name, cause="logout") - before == 1


def test_the_running_revocation_set_reports_itself_current(
    client: TestClient, scraper: dict[str, str]
) -> None:
    series = scrape(client, scraper)
    assert value(series, "notes_api_revocation_listener_up") == 1
    assert ("notes_api_revocation_entries", frozenset()) in series


def test_ending_every_other_session_counts_each_session_ended(
    client: TestClient, scraper: dict[str, str], make_user: MakeUser
) -> None:
    user = make_user()
    current = login(client, user.username)
    login(client, user.username)
    login(client, user.username)
    name = "notes_api_sessions_ended_total"
    before = value(scrape(client, scraper), name, cause="ended_by_user")

    ended = client.delete("/account/sessions", headers=bearer(current["access_token"]))

    assert ended.status_code == 204
    assert value(scrape(client, scraper), name, cause="ended_by_user") - before == 2


def test_a_password_change_refused_for_a_taken_email_counts_no_session_ended(
    client: TestClient, scraper: dict[str, str], auth_headers: Headers, make_user: MakeUser
) -> None:
    """Refused before any session is touched: nothing ended, nothing counted."""
    admin = auth_headers(roles=["admin"])
    taken = client.post(
        "/users",
        headers=admin,
        json={"username": "holder", "email": "taken@example.com", "password": "password123"},
    )
    assert taken.status_code == 201
    user = make_user()
    tokens = login(client, user.username)
    name = "notes_api_sessions_ended_total"
    before = value(scrape(client, scraper), name, cause="password_changed")

    response = client.patch(
        f"/users/{user.id}",
        headers=admin,
        json={"email": "taken@example.com", "password": "brand-new-password"},
    )

    assert response.status_code == 409
    assert response.json() == {"detail": "Email is already taken"}
    assert value(scrape(client, scraper), name, cause="password_changed") == before
    assert client.get("/notes", headers=bearer(tokens["access_token"])).status_code == 200
