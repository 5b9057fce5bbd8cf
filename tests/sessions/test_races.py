"""Races between a refresh thief, or logins in flight, and whatever should stop them,
run with real concurrent clients against two server processes on PostgreSQL (SQLite
serializes writers and would hide them)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator

import httpx2
import pytest
from sqlalchemy import Engine, text

from tests.conftest import DEFAULT_PASSWORD, MakeUser, bearer
from tests.databases import POSTGRES_URL
from tests.servers import running_server
from tests.sessions.test_revocation_across_workers import server_env
from tests.sessions.waiting import eventually

pytestmark = [
    pytest.mark.skipif(POSTGRES_URL is None, reason="needs TEST_DATABASE_URL"),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

TRIALS = 8
HOLD_SECONDS = 0.5
"""Long enough for a request to reach the database and wait there."""
THIEVES = 4
"""Sessions raced at once in each trial: more chances to hit the window per trial."""
THIEF_PATIENCE_SECONDS = 10.0
NEW_PASSWORD = "another long password"


@pytest.fixture
def servers(database_url: str) -> Iterator[tuple[str, str]]:
    # Each trial retries every token the thief held: far more failed refreshes from this
    # address than the refresh grant's throttle allows by default.
    env = server_env(
        database_url,
        LOGIN_MAX_FAILURES_PER_ADDRESS="1000000",
        # Every client here is 127.0.0.1: six looping logins and the administrator's must
        # not be refused by the per-address cap on logins in flight (issue 14, item 4).
        LOGIN_MAX_IN_FLIGHT_PER_ADDRESS="1000",
    )
    with running_server(env) as first, running_server(env) as second:
        yield first, second


async def password_login(
    client: httpx2.AsyncClient, username: str, password: str = DEFAULT_PASSWORD
) -> httpx2.Response:
    return await client.post("/token", data={"username": username, "password": password})


async def refresh(client: httpx2.AsyncClient, refresh_token: str) -> httpx2.Response:
    return await client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


async def thief(client: httpx2.AsyncClient, obtained: list[str], started: asyncio.Event) -> None:
    """Rotate the stolen token (`obtained[0]`) as fast as possible, keeping every token."""
    while True:
        answer = await refresh(client, obtained[-1])
        if answer.status_code != 200:
            return
        obtained.append(answer.json()["refresh_token"])
        started.set()


async def race(
    servers: tuple[str, str], username: str, victim_acts: Callable[..., Awaitable[None]]
) -> list[str]:
    """One trial: `THIEVES` sessions of the user, each with a thief looping on one server,
    while the victim acts on all of them on the other, at a random moment; then every
    refresh token any thief ever held is tried again."""
    async with (
        httpx2.AsyncClient(base_url=servers[0], timeout=30) as thief_client,
        httpx2.AsyncClient(base_url=servers[1], timeout=30) as victim_client,
    ):
        logins = [await password_login(victim_client, username) for _ in range(THIEVES)]
        sessions = [login.json() for login in logins]
        held = [[tokens["refresh_token"]] for tokens in sessions]
        started = [asyncio.Event() for _ in sessions]
        loops = [
            asyncio.create_task(thief(thief_client, obtained, event))
            for obtained, event in zip(held, started, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), 30)
        await asyncio.sleep(random.uniform(0, 0.05))  # timing jitter, not a secret
        await victim_acts(victim_client, sessions)
        _, running = await asyncio.wait(loops, timeout=THIEF_PATIENCE_SECONDS)
        for loop in running:  # still rotating long after the victim acted: it survived
            loop.cancel()
        survivors = []
        for token in (token for obtained in held for token in obtained):
            if (await refresh(thief_client, token)).status_code == 200:
                survivors.append(token)
        return survivors


def test_a_looping_thief_does_not_outlive_reuse_detection(
    servers: tuple[str, str], make_user: MakeUser
) -> None:
    user = make_user()

    async def victim_presents_its_spent_tokens(
        client: httpx2.AsyncClient, sessions: list[dict[str, str]]
    ) -> None:
        answers = await asyncio.gather(*(refresh(client, s["refresh_token"]) for s in sessions))
        assert {answer.status_code for answer in answers} == {400}

    for _ in range(TRIALS):
        assert asyncio.run(race(servers, user.username, victim_presents_its_spent_tokens)) == []


def test_a_looping_thief_does_not_outlive_logout(
    servers: tuple[str, str], make_user: MakeUser
) -> None:
    user = make_user()

    async def victim_logs_out(client: httpx2.AsyncClient, sessions: list[dict[str, str]]) -> None:
        answers = await asyncio.gather(
            *(client.post("/token/revoke", data={"token": s["refresh_token"]}) for s in sessions)
        )
        assert {answer.status_code for answer in answers} == {200}

    for _ in range(TRIALS):
        assert asyncio.run(race(servers, user.username, victim_logs_out)) == []


def test_a_looping_thief_does_not_outlive_a_password_change(
    servers: tuple[str, str], make_user: MakeUser
) -> None:
    admin = make_user(roles=["admin"])
    passwords = iter(f"{NEW_PASSWORD} {trial}" for trial in range(TRIALS))

    for _ in range(TRIALS):
        user = make_user()

        async def admin_changes_the_password(
            client: httpx2.AsyncClient, _sessions: list[dict[str, str]], user_id: int = user.id
        ) -> None:
            admin_token = (await password_login(client, admin.username)).json()["access_token"]
            answer = await client.patch(
                f"/users/{user_id}",
                json={"password": next(passwords)},
                headers={"Authorization": f"Bearer {admin_token}"},
            )
            assert answer.status_code == 200

        assert asyncio.run(race(servers, user.username, admin_changes_the_password)) == []


async def logins_across_a_change(
    servers: tuple[str, str], admin: str, user_id: int, username: str, change: dict[str, object]
) -> tuple[str, list[dict[str, str]]]:
    """Logins with the user's password keep starting on both servers until an administrator's
    `change` (`PATCH /users/{id}`) has been answered. Returns that administrator's access
    token and the token pairs of the logins that succeeded."""
    async with (
        httpx2.AsyncClient(base_url=servers[0], timeout=30) as first,
        httpx2.AsyncClient(base_url=servers[1], timeout=30) as second,
    ):
        admin_token: str = (await password_login(first, admin)).json()["access_token"]
        changed = asyncio.Event()
        obtained: list[dict[str, str]] = []

        async def keep_logging_in(client: httpx2.AsyncClient) -> None:
            while not changed.is_set():
                answer = await password_login(client, username)
                if answer.status_code == 200:
                    obtained.append(answer.json())

        logins = [asyncio.create_task(keep_logging_in(c)) for c in (first, second) * 3]
        await asyncio.sleep(random.uniform(0.05, 0.2))
        answer = await first.patch(
            f"/users/{user_id}", json=change, headers={"Authorization": f"Bearer {admin_token}"}
        )
        assert answer.status_code == 200
        changed.set()
        await asyncio.gather(*logins)
        return admin_token, obtained


async def refreshable(server: str, pairs: list[dict[str, str]]) -> list[str]:
    """The refresh tokens of `pairs` that still work."""
    async with httpx2.AsyncClient(base_url=server, timeout=30) as client:
        tokens = [pair["refresh_token"] for pair in pairs]
        return [token for token in tokens if (await refresh(client, token)).status_code == 200]


def test_logins_in_flight_do_not_survive_a_password_change(
    servers: tuple[str, str], make_user: MakeUser
) -> None:
    admin = make_user(roles=["admin"])
    for _ in range(TRIALS // 2):
        user = make_user()
        _, pairs = asyncio.run(
            logins_across_a_change(
                servers, admin.username, user.id, user.username, {"password": NEW_PASSWORD}
            )
        )
        assert asyncio.run(refreshable(servers[1], pairs)) == []


def test_logins_in_flight_do_not_survive_a_disable(
    servers: tuple[str, str], make_user: MakeUser
) -> None:
    """A disabled user's refresh tokens are refused anyway (rotation reads `disabled`), so
    what must not survive is the session: none left live, every access token refused."""
    admin = make_user(roles=["admin"])
    for _ in range(TRIALS // 2):
        user = make_user()
        admin_token, pairs = asyncio.run(
            logins_across_a_change(
                servers, admin.username, user.id, user.username, {"disabled": True}
            )
        )
        with httpx2.Client(base_url=servers[1], timeout=30) as client:
            live = client.get(f"/users/{user.id}/sessions", headers=bearer(admin_token))
            assert live.json() == []
            assert eventually(
                lambda client=client, pairs=pairs: all(
                    client.get("/identify/me", headers=bearer(pair["access_token"])).status_code
                    == 401
                    for pair in pairs
                )
            )


async def rotation_held_mid_flight(
    server: str, engine: Engine, user_id: int, username: str, victim_acts: str, admin: str
) -> int:
    """The thief's rotation is held inside its transaction (the user row is locked by an
    operator's transaction, which every rotation waits on somewhere) while the victim logs
    out, presents its spent token, or an administrator changes the password; then the lock
    is released. Returns the status of a
    refresh with the token the thief got, if it got one (400 when nothing survived)."""
    async with httpx2.AsyncClient(base_url=server, timeout=30) as client:
        victim = (await password_login(client, username)).json()
        admin_token = (await password_login(client, admin)).json()["access_token"]
        stolen = (await refresh(client, victim["refresh_token"])).json()  # the thief's turn
        with engine.connect() as operator:
            operator.execute(
                text("SELECT id FROM users WHERE id = :id FOR UPDATE"), {"id": user_id}
            )
            rotation = asyncio.create_task(refresh(client, stolen["refresh_token"]))
            await asyncio.sleep(HOLD_SECONDS)
            if victim_acts == "logout":
                act = client.post("/token/revoke", data={"token": victim["refresh_token"]})
            elif victim_acts == "reuse":
                act = refresh(client, victim["refresh_token"])
            else:
                act = client.patch(
                    f"/users/{user_id}",
                    json={"password": NEW_PASSWORD},
                    headers={"Authorization": f"Bearer {admin_token}"},
                )
            action = asyncio.create_task(act)
            await asyncio.sleep(HOLD_SECONDS)
            operator.rollback()
        answer, _ = await rotation, await action
        if answer.status_code != 200:
            return answer.status_code
        return (await refresh(client, answer.json()["refresh_token"])).status_code


@pytest.mark.parametrize("victim_acts", ["logout", "reuse", "password"])
def test_a_rotation_held_mid_flight_does_not_outlive_the_end_of_its_session(
    servers: tuple[str, str], make_user: MakeUser, db_engine: Engine, victim_acts: str
) -> None:
    """The review's race made deterministic: before sessions, the revocation waited for
    the row the rotation had locked and then missed the row it inserted."""
    user, admin = make_user(), make_user(roles=["admin"])
    status = asyncio.run(
        rotation_held_mid_flight(
            servers[0], db_engine, user.id, user.username, victim_acts, admin.username
        )
    )
    assert status == 400
