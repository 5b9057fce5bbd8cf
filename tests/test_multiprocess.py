"""Two server processes on one database behave like one: no state lives in process memory."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from tests.conftest import DEFAULT_PASSWORD, TEST_SECRET, MakeUser
from tests.servers import running_server


@pytest.fixture
def two_servers(database_url: str) -> Iterator[tuple[str, str]]:
    env = {"DATABASE_URL": database_url, "JWT_SECRET_KEY": TEST_SECRET, "APP_ENV": "development"}
    with running_server(env) as first, running_server(env) as second:
        yield first, second


def token(base_url: str, **form: str) -> httpx2.Response:
    return httpx2.post(f"{base_url}/token", data=form, timeout=10)


def test_login_on_one_refresh_on_the_other(
    two_servers: tuple[str, str], make_user: MakeUser
) -> None:
    first, second = two_servers
    user = make_user()
    tokens = token(first, username=user.username, password=DEFAULT_PASSWORD).json()
    me = httpx2.get(
        f"{second}/identify/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json()["username"] == user.username
    renewed = token(second, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert renewed.status_code == 200


def test_reuse_is_detected_across_processes(
    two_servers: tuple[str, str], make_user: MakeUser
) -> None:
    first, second = two_servers
    user = make_user()
    tokens = token(first, username=user.username, password=DEFAULT_PASSWORD).json()
    renewed = token(first, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).json()
    reuse = token(second, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert reuse.json()["error"] == "invalid_grant"
    family_dead = token(first, grant_type="refresh_token", refresh_token=renewed["refresh_token"])
    assert family_dead.status_code == 400


def test_throttling_counts_failures_from_every_process(
    two_servers: tuple[str, str], make_user: MakeUser
) -> None:
    user = make_user()
    for attempt in range(5):
        server = two_servers[attempt % 2]
        assert token(server, username=user.username, password="wrong-pass").status_code == 400
    throttled = token(two_servers[1], username=user.username, password=DEFAULT_PASSWORD)
    assert throttled.status_code == 429
