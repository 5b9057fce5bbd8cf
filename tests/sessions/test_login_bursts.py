"""Bursts of logins (issue 14 item 4): attempts in flight count against the address ceiling,
an address has a cap on logins checked at once, and the hashing queue is bounded.

The real attack runs against a `notes-api serve` process on PostgreSQL with a few hundred
simultaneous clients; the rules it relies on are also pinned one by one in process.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from datetime import timedelta

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select, text

from notes_api.audit.models import AuditEvent
from notes_api.auth import passwords
from notes_api.clock import utcnow
from notes_api.database import create_app_engine, create_session_factory
from notes_api.policies import ThrottlePolicy
from notes_api.sessions import service
from notes_api.throttling import throttle
from notes_api.throttling.models import LoginAttempt
from tests.conftest import DEFAULT_PASSWORD, TEST_SECRET, MakeUser
from tests.databases import POSTGRES_URL
from tests.servers import running_server

ATTACKER = "203.0.113.7"


@pytest.fixture
def attacker(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, client=(ATTACKER, 50000)) as client:
        yield client


def guess(client: TestClient, username: str, password: str = "wrong-password"):  # type: ignore[no-untyped-def]
    return client.post("/token", data={"username": username, "password": password})


def pending_from(engine: Engine, address: str, count: int) -> None:
    """`count` attempts of `address` still being checked, as concurrent requests leave them."""
    rows = [
        {"username": f"someone{i}", "client_ip": address, "failed_at": utcnow(), "pending": True}
        for i in range(count)
    ]
    with engine.begin() as connection:
        connection.execute(insert(LoginAttempt), rows)


def count_verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real_verify, real_burn = service.verify_password, service.burn_verification
    monkeypatch.setattr(
        service, "verify_password", lambda *a: calls.append("verify") or real_verify(*a)
    )
    monkeypatch.setattr(
        service, "burn_verification", lambda p: calls.append("burn") or real_burn(p)
    )
    return calls


def attempts_left(engine: Engine) -> list[tuple[str, bool]]:
    with engine.connect() as connection:
        return [
            (row.client_ip, row.pending)
            for row in connection.execute(select(LoginAttempt.client_ip, LoginAttempt.pending))
        ]


def test_attempts_in_flight_count_against_the_address_ceiling(
    app: FastAPI, attacker: TestClient, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """99 failures and 1 guess still being checked make 100: the next guess is refused
    without a hash, although fewer than 100 have failed so far."""
    app.state.throttle_policy = type(app.state.throttle_policy)(
        max_failures_per_user=5,
        max_failures_per_address=100,
        window=timedelta(minutes=15),
        max_in_flight_per_address=8,
    )
    with db_engine.begin() as connection:
        connection.execute(
            insert(LoginAttempt),
            [
                {"username": f"v{i}", "client_ip": ATTACKER, "failed_at": utcnow()}
                for i in range(99)
            ],
        )
    pending_from(db_engine, ATTACKER, 1)
    calls = count_verifications(monkeypatch)
    response = guess(attacker, "another-victim")
    assert response.status_code == 429
    assert response.json()["error"] == "temporarily_unavailable"
    assert int(response.headers["retry-after"]) >= 1
    assert calls == []


def test_an_address_gets_no_more_logins_checked_at_once_than_its_cap(
    attacker: TestClient, db_engine: Engine, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending_from(db_engine, ATTACKER, 8)
    calls = count_verifications(monkeypatch)
    user = make_user()
    response = guess(attacker, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert calls == []


def test_the_cap_on_logins_in_flight_is_per_address(
    app: FastAPI, db_engine: Engine, make_user: MakeUser
) -> None:
    pending_from(db_engine, ATTACKER, 8)
    user = make_user()
    with TestClient(app, client=("198.51.100.20", 50000)) as elsewhere:
        assert guess(elsewhere, user.username, DEFAULT_PASSWORD).status_code == 200


def test_a_full_hashing_queue_answers_503_at_once_and_counts_nothing(
    attacker: TestClient, db_engine: Engine, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "MAX_QUEUED_HASHES", 0)
    calls = count_verifications(monkeypatch)
    user = make_user()
    response = guess(attacker, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"] == "1"
    assert response.headers["cache-control"] == "no-store"
    assert calls == []
    assert attempts_left(db_engine) == []  # released: neither pending nor a failure


def test_the_hashing_queue_counts_hashes_until_they_finish(
    attacker: TestClient, make_user: MakeUser
) -> None:
    user = make_user()
    guess(attacker, user.username)
    guess(attacker, user.username, DEFAULT_PASSWORD)
    assert passwords.queued_hashes() == 0


postgres_only = pytest.mark.skipif(POSTGRES_URL is None, reason="needs TEST_DATABASE_URL")


def serve(database_url: str, **env: str) -> contextlib.AbstractContextManager[str]:
    return running_server(
        {
            "DATABASE_URL": database_url,
            "JWT_SECRET_KEY": TEST_SECRET,
            "APP_ENV": "development",
            **env,
        }
    )


async def all_at_once(
    base_url: str, forms: list[tuple[str, dict[str, str]]], *more_servers: str
) -> list[int]:
    """POST /token once per (forwarded address, form), every request on its own
    connection, all started together, spread over the servers in turn; the statuses
    in order."""
    servers = [base_url, *more_servers]
    limits = httpx2.Limits(max_connections=len(forms), max_keepalive_connections=0)
    async with httpx2.AsyncClient(limits=limits, timeout=120) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{servers[index % len(servers)]}/token",
                    data=form,
                    headers={"X-Forwarded-For": address},
                )
                for index, (address, form) in enumerate(forms)
            )
        )
    for response in responses:
        if response.status_code in (429, 503):
            assert response.json()["error"] == "temporarily_unavailable"
            assert int(response.headers["retry-after"]) >= 1
    return [response.status_code for response in responses]


def failed_logins_audited(engine: Engine, address: str) -> int:
    with engine.connect() as connection:
        return (
            connection.scalar(
                select(func.count()).where(
                    AuditEvent.action == "login.failed", AuditEvent.client_ip == address
                )
            )
            or 0
        )


@postgres_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_300_simultaneous_guesses_from_one_address_cost_it_alone(
    database_url: str, db_engine: Engine, make_user: MakeUser
) -> None:
    """The attack: 300 wrong guesses for different usernames from one address at once all
    reached a password check against a ceiling of 100, and everyone else's logins queued
    behind them. Now at most the ceiling are checked (attempts in flight count, under one
    lock per address; no more than 8 at once), the rest are refused at once, and another
    user logs in meanwhile."""
    owner = make_user()
    burst = [(ATTACKER, {"username": f"victim{i}", "password": "guess"}) for i in range(300)]
    legitimate = ("198.51.100.20", {"username": owner.username, "password": DEFAULT_PASSWORD})
    with serve(database_url) as server:
        statuses = asyncio.run(all_at_once(server, [*burst[:150], legitimate, *burst[150:]]))
    owner_status = statuses.pop(150)
    assert owner_status == 200
    checked = failed_logins_audited(db_engine, ATTACKER)
    assert checked <= 100
    assert statuses.count(400) == checked
    assert statuses.count(429) == 300 - checked
    assert attempts_left(db_engine).count((ATTACKER, True)) == 0  # nothing left pending


@postgres_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_address_ceiling_holds_against_a_burst_even_without_the_in_flight_cap(
    database_url: str, db_engine: Engine
) -> None:
    """With the cap on logins in flight lifted, counting attempts in flight against the
    ceiling under one lock per address is what stops the burst at 100 checks. Whatever the
    hashing queue cannot take answers 503 at once and is counted nowhere."""
    burst = [(ATTACKER, {"username": f"victim{i}", "password": "guess"}) for i in range(300)]
    with serve(database_url, LOGIN_MAX_IN_FLIGHT_PER_ADDRESS="1000") as server:
        statuses = asyncio.run(all_at_once(server, burst))
    checked = failed_logins_audited(db_engine, ATTACKER)
    assert 0 < checked <= 100
    assert statuses.count(400) == checked
    assert statuses.count(429) + statuses.count(503) == 300 - checked
    assert attempts_left(db_engine).count((ATTACKER, True)) == 0


@postgres_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_address_ceiling_holds_against_a_burst_spread_over_two_processes(
    database_url: str, db_engine: Engine
) -> None:
    """The count lives in the database: two server processes share it exactly."""
    burst = [(ATTACKER, {"username": f"victim{i}", "password": "guess"}) for i in range(300)]
    lifted = {"LOGIN_MAX_IN_FLIGHT_PER_ADDRESS": "1000"}
    with serve(database_url, **lifted) as first, serve(database_url, **lifted) as second:
        statuses = asyncio.run(all_at_once(first, burst, second))
    checked = failed_logins_audited(db_engine, ATTACKER)
    assert 0 < checked <= 100
    assert statuses.count(400) == checked
    assert statuses.count(429) + statuses.count(503) == 300 - checked


@postgres_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_login_waits_for_the_lock_on_its_address_held_by_another_process(
    attacker: TestClient, db_engine: Engine, make_user: MakeUser
) -> None:
    """Another process counting this address's attempts holds its advisory lock: this login
    waits for it (the counts it reads would otherwise miss that process's attempt)."""
    user = make_user()
    statuses: list[int] = []
    waiting = threading.Thread(
        target=lambda: statuses.append(guess(attacker, user.username, DEFAULT_PASSWORD).status_code)
    )
    with db_engine.connect() as other_process, other_process.begin():
        other_process.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"login:{ATTACKER}"}
        )
        waiting.start()
        waiting.join(1)
        assert statuses == []
    waiting.join(30)
    assert statuses == [200]


async def reserve_while_another_address_waits(database_url: str) -> tuple[bool, bool]:
    """Two reservations in one process: one for ATTACKER, whose advisory lock another
    process holds, and one for another address. Whether the other one finished while the
    first was still waiting, and whether the first was still waiting then."""
    engine = create_app_engine(database_url)
    policy = ThrottlePolicy(
        max_failures_per_user=5, max_failures_per_address=100, window=timedelta(minutes=15)
    )
    sessions = create_session_factory(engine)

    async def reserve(address: str) -> int:
        async with sessions() as db:
            return await throttle.reserve_attempt(db, policy, "someone", address)

    try:
        async with engine.connect() as other_process, other_process.begin():
            await other_process.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"login:{ATTACKER}"}
            )
            held_up = asyncio.create_task(reserve(ATTACKER))
            await asyncio.sleep(0.2)  # it now holds the process's lock on its address, waiting
            other = asyncio.create_task(reserve("198.51.100.9"))
            done, _ = await asyncio.wait({other}, timeout=10)
            still_waiting = not held_up.done()
        await held_up
        await asyncio.wait_for(other, 10)  # with the advisory lock released, it ends either way
        return other in done, still_waiting
    finally:
        await engine.dispose()


@postgres_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_login_from_another_address_does_not_wait_for_an_address_held_up(
    database_url: str, db_engine: Engine
) -> None:
    """The process's queue for the address lock is per address: a login whose address is
    held up (another process counting its attempts) keeps no other address waiting."""
    other_finished, held_up_still_waiting = asyncio.run(
        reserve_while_another_address_waits(database_url)
    )
    assert held_up_still_waiting
    assert other_finished
