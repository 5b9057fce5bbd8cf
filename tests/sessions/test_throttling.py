"""Brute-force protection on `POST /token`: per (username, address) and per address."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import OperationalError

from notes_api.auth.passwords import HashingBusyError
from notes_api.clock import utcnow
from notes_api.database import create_app_engine, create_session_factory
from notes_api.main import create_app
from notes_api.policies import ThrottlePolicy
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


def attempt_rows(engine: Engine) -> list[tuple[str, str, bool]]:
    """Every recorded attempt as (username, address bucket, pending)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(LoginAttempt.username, LoginAttempt.client_ip, LoginAttempt.pending)
        )
        return sorted((row.username, row.client_ip, row.pending) for row in rows)


def test_a_failure_exactly_one_window_old_is_deleted_by_the_next_attempt(
    app: FastAPI, make_user: MakeUser, db_engine: Engine, clock: Clock
) -> None:
    """Expired failures do not pile up: the next attempt, from any address, deletes them,
    the one that failed exactly one window ago included (it no longer counts)."""
    user, other = make_user(), make_user()
    # One test client at a time: two running at once share the app's engine across loops.
    with TestClient(app, client=("203.0.113.7", 50000)) as first:
        fail_times(first, user.username, 1)
    clock.now += timedelta(minutes=15)
    with TestClient(app, client=("198.51.100.20", 50000)) as second:
        fail_times(second, other.username, 1)
    assert attempt_rows(db_engine) == [(other.username, "198.51.100.20", False)]


def test_a_successful_login_leaves_other_users_failures_at_its_address_counted(
    client_from: ClientFrom, make_user: MakeUser
) -> None:
    office = client_from("203.0.113.7")
    victim, colleague = make_user(), make_user()
    fail_times(office, victim.username, 5)
    assert attempt(office, colleague.username, DEFAULT_PASSWORD).status_code == 200
    assert attempt(office, victim.username, DEFAULT_PASSWORD).status_code == 429


def test_the_owners_login_elsewhere_leaves_the_attackers_failures_counted(
    app: FastAPI, make_user: MakeUser
) -> None:
    user = make_user()
    # One test client at a time: two running at once share the app's engine across loops.
    with TestClient(app, client=("203.0.113.7", 50000)) as attacker:
        fail_times(attacker, user.username, 5)
    with TestClient(app, client=("198.51.100.20", 50000)) as owner:
        assert attempt(owner, user.username, DEFAULT_PASSWORD).status_code == 200
    with TestClient(app, client=("203.0.113.7", 50000)) as attacker:
        assert attempt(attacker, user.username, DEFAULT_PASSWORD).status_code == 429


def test_an_attempt_pending_exactly_a_minute_is_abandoned(
    client_from: ClientFrom, make_user: MakeUser, db_engine: Engine, clock: Clock
) -> None:
    """The edge of ABANDONED_AFTER: a pending attempt that old no longer holds a place."""
    user = make_user()
    with db_engine.begin() as connection:
        connection.execute(
            insert(LoginAttempt),
            [
                {
                    "username": user.username,
                    "client_ip": "203.0.113.7",
                    "failed_at": clock.now - throttle.ABANDONED_AFTER,
                    "pending": True,
                }
            ]
            * 5,
        )
    assert attempt(client_from("203.0.113.7"), user.username, DEFAULT_PASSWORD).status_code == 200


class SettleTimer:
    """The throttle's monotonic clock: 0 when an attempt starts waiting, then `readings`."""

    def __init__(self, *readings: float, at_reading: Callable[[int], None] = lambda _: None):
        self.readings = [0.0, *readings]
        self.at_reading = at_reading
        self.count = 0

    def monotonic(self) -> float:
        reading = self.readings[min(self.count, len(self.readings) - 1)]
        self.at_reading(self.count)
        self.count += 1
        return reading


def test_a_login_waiting_in_vain_for_its_pairs_attempts_in_flight_retries_after_a_second(
    client_from: ClientFrom,
    make_user: MakeUser,
    db_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = make_user()
    insert_pending(db_engine, user.username, "203.0.113.7", timedelta(seconds=30), 5)
    wait = throttle.SETTLE_WAIT.total_seconds()
    monkeypatch.setattr(throttle, "time", SettleTimer(wait + 0.001))
    response = attempt(client_from("203.0.113.7"), user.username, DEFAULT_PASSWORD)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"


def test_a_login_waiting_for_its_pairs_attempts_in_flight_checks_again_at_the_last_instant(
    client_from: ClientFrom,
    make_user: MakeUser,
    db_engine: Engine,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SETTLE_WAIT is inclusive: attempts in flight that settle (here: are abandoned) just as
    the wait runs out still let the login through."""
    user = make_user()
    insert_pending(db_engine, user.username, "203.0.113.7", timedelta(seconds=30), 5)

    def abandon_them(reading: int) -> None:
        if reading == 1:
            clock.now += throttle.ABANDONED_AFTER

    timer = SettleTimer(throttle.SETTLE_WAIT.total_seconds(), at_reading=abandon_them)
    monkeypatch.setattr(throttle, "time", timer)
    response = attempt(client_from("203.0.113.7"), user.username, DEFAULT_PASSWORD)
    assert response.status_code == 200


def test_a_correct_login_in_flight_is_no_failure_for_a_concurrent_one(
    client_from: ClientFrom, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four failures and a correct login being checked: a second correct login of the pair
    waits for the first instead of being refused as if the first had failed."""
    client = client_from("203.0.113.7")
    user = make_user()
    fail_times(client, user.username, 4)
    checked = threading.Event()
    real_may_start = throttle._may_start

    async def may_start(*args: Any) -> bool:
        try:
            return await real_may_start(*args)
        finally:
            checked.set()

    statuses: list[int] = []
    second = threading.Thread(
        target=lambda: statuses.append(attempt(client, user.username, DEFAULT_PASSWORD).status_code)
    )
    verify = service.verify_password

    def verify_while_the_second_is_checked(*args: Any) -> Any:
        # Unpatched before the second starts: once the first settles, the second may reach
        # its own verification before this login's response is back in the test.
        monkeypatch.setattr(service, "verify_password", verify)
        monkeypatch.setattr(throttle, "_may_start", may_start)
        second.start()
        assert checked.wait(10)
        return verify(*args)

    monkeypatch.setattr(service, "verify_password", verify_while_the_second_is_checked)
    first = attempt(client, user.username, DEFAULT_PASSWORD)
    second.join(10)
    assert (first.status_code, statuses) == (200, [200])


def test_a_database_outage_mid_login_is_a_503_when_the_attempt_cannot_be_settled_either(
    app: FastAPI, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def outage(*_args: object) -> None:
        raise OperationalError("DELETE ...", {}, Exception("connection refused"))

    monkeypatch.setattr(throttle, "clear", outage)
    monkeypatch.setattr(throttle, "abandon", outage)
    user = make_user()
    with TestClient(app, client=("203.0.113.7", 1), raise_server_exceptions=False) as client:
        response = attempt(client, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 503


async def settle_in_a_cancelled_request(database_url: str, error: BaseException | None) -> None:
    """Reserve an attempt, then, with the request already cancelled, end its check with
    `error` (None: cancelled while waiting, as for a password hash)."""
    engine = create_app_engine(database_url)
    policy = ThrottlePolicy(
        max_failures_per_user=5, max_failures_per_address=100, window=timedelta(minutes=15)
    )
    try:
        async with create_session_factory(engine)() as db:
            attempt_id = await throttle.reserve_attempt(db, policy, "someone", "203.0.113.7")
            with anyio.CancelScope() as request:
                async with throttle.settled(db, attempt_id):
                    request.cancel()
                    if error is not None:
                        raise error
                    await asyncio.sleep(10)
            assert request.cancelled_caught
    finally:
        await engine.dispose()


def run_cancelled_request(database_url: str, error: BaseException | None) -> None:
    """`settle_in_a_cancelled_request` on a loop of its own, closed without waiting for
    tasks a broken-off database call may leave behind (asyncio.run would wait forever)."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(settle_in_a_cancelled_request(database_url, error))
    finally:
        loop.close()


def test_a_login_cancelled_mid_check_still_counts_as_a_failure(
    database_url: str, db_engine: Engine
) -> None:
    """Breaking a login off (the request cancelled while its password is hashed) gains a
    guesser nothing: the attempt is settled as a failure, shielded from the cancellation."""
    run_cancelled_request(database_url, None)
    assert attempt_rows(db_engine) == [("someone", "203.0.113.7", False)]


def test_a_login_refused_for_hashing_capacity_is_released_even_when_cancelled(
    database_url: str, db_engine: Engine
) -> None:
    with pytest.raises(HashingBusyError):
        run_cancelled_request(database_url, HashingBusyError())
    assert attempt_rows(db_engine) == []


def test_other_users_failures_at_an_address_do_not_count_towards_a_users_limit(
    client_from: ClientFrom, make_user: MakeUser
) -> None:
    office = client_from("203.0.113.7")
    victim, colleague = make_user(), make_user()
    fail_times(office, victim.username, 4)
    fail_times(office, colleague.username, 1)
    assert attempt(office, colleague.username, DEFAULT_PASSWORD).status_code == 200


def test_the_delay_runs_from_the_pairs_last_failure_not_from_others_at_the_address(
    client_from: ClientFrom, make_user: MakeUser, clock: Clock
) -> None:
    office = client_from("203.0.113.7")
    user, colleague = make_user(), make_user()
    fail_times(office, user.username, 5)
    clock.now += throttle.FIRST_DELAY
    fail_times(office, colleague.username, 1)
    assert attempt(office, user.username, DEFAULT_PASSWORD).status_code == 200


def test_the_second_delay_is_twice_the_first(
    client_from: ClientFrom, make_user: MakeUser, clock: Clock
) -> None:
    attacker = client_from("203.0.113.7")
    user = make_user()
    fail_times(attacker, user.username, 5)
    clock.now += throttle.FIRST_DELAY
    fail_times(attacker, user.username, 1)
    response = attempt(attacker, user.username, DEFAULT_PASSWORD)
    assert response.headers["retry-after"] == "60"


def test_an_address_at_its_ceiling_retries_after_its_oldest_failure_leaves_the_window(
    app: FastAPI, client_from: ClientFrom, db_engine: Engine, clock: Clock
) -> None:
    """Not after a second: the ceiling holds until the address's oldest failure (not an
    older attempt left pending by a dead process) is a window old."""
    app.state.throttle_policy = ThrottlePolicy(
        max_failures_per_user=5, max_failures_per_address=12, window=timedelta(minutes=15)
    )
    insert_pending(db_engine, "died-mid-login", "203.0.113.7", timedelta(seconds=90), 1)
    sprayer = client_from("203.0.113.7")
    clock.now = utcnow()
    for index in range(12):
        assert attempt(sprayer, f"victim{index}").status_code == 400
    clock.now += timedelta(seconds=100)
    response = attempt(sprayer, "one-more-victim")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "800"
