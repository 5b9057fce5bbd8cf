"""Brute-force protection on `POST /token`: per (username, address) and per address."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, update

from notes_api.clock import utcnow
from notes_api.main import create_app
from notes_api.sessions import service
from notes_api.throttling import throttle
from notes_api.throttling.models import LoginAttempt
from tests.conftest import DEFAULT_PASSWORD, MakeUser, make_settings

ClientFrom = Callable[[str], TestClient]


@pytest.fixture
def client_from(app: FastAPI) -> Iterator[ClientFrom]:
    """`client_from("203.0.113.7")`: a test client whose requests come from that address."""
    clients: list[TestClient] = []

    def make(address: str) -> TestClient:
        client = TestClient(app, client=(address, 50000))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def attempt(client: TestClient, username: str, password: str = "wrong-password"):  # type: ignore[no-untyped-def]
    return client.post("/token", data={"username": username, "password": password})


def fail_times(client: TestClient, username: str, times: int) -> None:
    for _ in range(times):
        assert attempt(client, username).status_code == 400


def test_sixth_failure_in_a_row_is_429_with_retry_after(
    client_from: ClientFrom, make_user: MakeUser
) -> None:
    attacker = client_from("203.0.113.7")
    user = make_user()
    fail_times(attacker, user.username, 5)
    response = attempt(attacker, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["cache-control"] == "no-store"


def test_throttled_attempt_costs_no_password_hash(
    client_from: ClientFrom, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    attacker = client_from("203.0.113.7")
    user = make_user()
    fail_times(attacker, user.username, 5)
    calls: list[str] = []
    monkeypatch.setattr(service, "verify_password", lambda *args: calls.append("verify"))
    assert attempt(attacker, user.username).status_code == 429
    assert calls == []


class Clock:
    """The throttle's clock, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(utcnow())
    monkeypatch.setattr(throttle, "utcnow", clock)
    return clock


def test_the_first_delay_is_over_at_its_last_instant(
    client_from: ClientFrom, make_user: MakeUser, clock: Clock
) -> None:
    attacker = client_from("203.0.113.7")
    user = make_user()
    fail_times(attacker, user.username, 5)
    clock.now += throttle.FIRST_DELAY
    assert attempt(attacker, user.username, DEFAULT_PASSWORD).status_code == 200


def test_retry_after_is_one_second_when_less_than_a_second_is_left(
    client_from: ClientFrom, make_user: MakeUser, clock: Clock
) -> None:
    attacker = client_from("203.0.113.7")
    user = make_user()
    fail_times(attacker, user.username, 5)
    clock.now += throttle.FIRST_DELAY - timedelta(milliseconds=500)
    response = attempt(attacker, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"


def test_the_delay_runs_from_the_failure_not_from_the_start_of_the_attempt(
    client_from: ClientFrom, make_user: MakeUser, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password check that takes long (a busy hashing queue) eats nothing of the delay."""
    verify = service.verify_password

    def slow_verify(*args: Any) -> Any:
        clock.now += timedelta(seconds=10)
        return verify(*args)

    monkeypatch.setattr(service, "verify_password", slow_verify)
    attacker = client_from("203.0.113.7")
    user = make_user()
    fail_times(attacker, user.username, 5)  # the last failed 10 s after it started
    clock.now += timedelta(seconds=25)
    response = attempt(attacker, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "5"


def test_owner_is_not_locked_out_from_another_address(
    client_from: ClientFrom, make_user: MakeUser
) -> None:
    user = make_user()
    attacker = client_from("203.0.113.7")
    for _ in range(8):
        attempt(attacker, user.username)
    assert attempt(attacker, user.username, DEFAULT_PASSWORD).status_code == 429
    owner = client_from("198.51.100.20")
    assert attempt(owner, user.username, DEFAULT_PASSWORD).status_code == 200


def test_other_accounts_from_the_same_address_still_log_in(
    client_from: ClientFrom, make_user: MakeUser
) -> None:
    office = client_from("203.0.113.7")
    victim, colleague = make_user(), make_user()
    fail_times(office, victim.username, 5)
    assert attempt(office, colleague.username, DEFAULT_PASSWORD).status_code == 200


def test_delay_grows_with_each_failure_past_the_limit(
    client_from: ClientFrom, make_user: MakeUser, db_engine: Engine
) -> None:
    attacker = client_from("203.0.113.7")
    user = make_user()
    fail_times(attacker, user.username, 5)
    first = int(attempt(attacker, user.username).headers["retry-after"])
    with db_engine.begin() as connection:  # let the first delay pass, then fail once more
        connection.execute(update(LoginAttempt).values(failed_at=utcnow() - timedelta(seconds=31)))
    fail_times(attacker, user.username, 1)
    second = int(attempt(attacker, user.username).headers["retry-after"])
    assert first <= 30
    assert second > first


def test_failures_expire_after_the_window(
    client_from: ClientFrom, make_user: MakeUser, db_engine: Engine
) -> None:
    attacker = client_from("203.0.113.7")
    user = make_user()
    fail_times(attacker, user.username, 5)
    with db_engine.begin() as connection:
        connection.execute(update(LoginAttempt).values(failed_at=utcnow() - timedelta(minutes=16)))
    assert attempt(attacker, user.username, DEFAULT_PASSWORD).status_code == 200


def test_success_clears_the_failures_of_that_pair(
    client_from: ClientFrom, make_user: MakeUser
) -> None:
    client = client_from("203.0.113.7")
    user = make_user()
    fail_times(client, user.username, 4)
    assert attempt(client, user.username, DEFAULT_PASSWORD).status_code == 200
    fail_times(client, user.username, 4)
    assert attempt(client, user.username, DEFAULT_PASSWORD).status_code == 200


def test_an_address_is_stopped_at_its_own_higher_ceiling(
    app: FastAPI, make_user: MakeUser, db_engine: Engine
) -> None:
    app.state.throttle_policy = type(app.state.throttle_policy)(
        max_failures_per_user=5, max_failures_per_address=12, window=timedelta(minutes=15)
    )
    with TestClient(app, client=("203.0.113.7", 1)) as sprayer:
        for index in range(12):
            assert attempt(sprayer, f"victim{index}").status_code == 400
        user = make_user()
        response = attempt(sprayer, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 429


def test_default_address_ceiling_allows_an_office_behind_one_nat(app: FastAPI) -> None:
    policy = app.state.throttle_policy
    assert policy.max_failures_per_address >= 100
    assert policy.window == timedelta(minutes=15)


def test_a_burst_of_concurrent_guesses_gets_no_more_than_the_limit(
    client_from: ClientFrom, make_user: MakeUser
) -> None:
    attacker = client_from("203.0.113.7")
    user = make_user()
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda _: attempt(attacker, user.username).status_code, range(40)))
    # Exactly the limit reached a password check: more would let a burst beat the counter,
    # fewer would mean concurrent attempts were refused without being counted.
    assert statuses.count(400) == 5
    assert statuses.count(429) == 35


def test_a_long_history_of_failures_still_answers_429(
    client_from: ClientFrom, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user()
    with db_engine.begin() as connection:
        connection.execute(
            insert(LoginAttempt),
            [{"username": user.username, "client_ip": "203.0.113.7", "failed_at": utcnow()}] * 80,
        )
    response = attempt(client_from("203.0.113.7"), user.username, DEFAULT_PASSWORD)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) <= 15 * 60


def test_ipv6_addresses_of_one_slash_64_share_their_count(
    client_from: ClientFrom, make_user: MakeUser
) -> None:
    user = make_user()
    for suffix in range(5):
        assert attempt(client_from(f"2001:db8:1:2::{suffix + 1}"), user.username).status_code == 400
    same_block = attempt(client_from("2001:db8:1:2:ffff::9"), user.username, DEFAULT_PASSWORD)
    assert same_block.status_code == 429
    other_block = attempt(client_from("2001:db8:1:3::1"), user.username, DEFAULT_PASSWORD)
    assert other_block.status_code == 200


def test_concurrent_correct_logins_of_one_user_all_succeed(
    client_from: ClientFrom, make_user: MakeUser
) -> None:
    """A script logging in several times at once is not an attack: the extra attempts wait
    for the earlier ones to settle instead of being refused."""
    client = client_from("203.0.113.7")
    user = make_user()
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(
            pool.map(
                lambda _: attempt(client, user.username, DEFAULT_PASSWORD).status_code, range(12)
            )
        )
    assert statuses == [200] * 12


def test_an_ipv4_mapped_ipv6_address_shares_the_ipv4_bucket(
    client_from: ClientFrom, make_user: MakeUser
) -> None:
    user = make_user()
    fail_times(client_from("::ffff:203.0.113.7"), user.username, 3)
    fail_times(client_from("203.0.113.7"), user.username, 2)

    assert attempt(client_from("::ffff:203.0.113.7"), user.username).status_code == 429
    assert attempt(client_from("203.0.113.7"), user.username).status_code == 429


def insert_pending(engine: Engine, username: str, address: str, age: timedelta, n: int) -> None:
    """Attempts left pending by a process that stopped mid-login, `age` ago."""
    with engine.begin() as connection:
        for _ in range(n):
            connection.execute(
                insert(LoginAttempt).values(
                    username=username, client_ip=address, failed_at=utcnow() - age, pending=True
                )
            )


def test_attempts_pending_for_over_a_minute_are_abandoned_and_block_nobody(
    client_from: ClientFrom, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user()
    insert_pending(db_engine, user.username, "203.0.113.7", timedelta(seconds=61), 5)

    response = attempt(client_from("203.0.113.7"), user.username, DEFAULT_PASSWORD)

    assert response.status_code == 200


def test_attempts_pending_for_under_a_minute_still_hold_their_places(
    client_from: ClientFrom, make_user: MakeUser, db_engine: Engine
) -> None:
    """The other side of the 60 seconds: live attempts fill the pair's places."""
    user = make_user()
    insert_pending(db_engine, user.username, "203.0.113.7", timedelta(seconds=30), 5)

    response = attempt(client_from("203.0.113.7"), user.username, DEFAULT_PASSWORD)

    assert response.status_code == 429


def test_the_in_flight_cap_is_read_from_its_setting(database_url: str) -> None:
    """LOGIN_MAX_IN_FLIGHT_PER_ADDRESS reaches the policy the token endpoint uses."""
    app = create_app(make_settings(database_url, login_max_in_flight_per_address=3))
    assert app.state.throttle_policy.max_in_flight_per_address == 3
