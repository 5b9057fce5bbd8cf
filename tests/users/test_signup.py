"""Self-service sign-up (ALLOW_SIGNUP=true): one answer whatever exists, throttled per address."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from notes_api.audit.models import AuditEvent
from notes_api.auth import passwords
from notes_api.main import create_app
from notes_api.users.models import User
from notes_api.users.schemas import SIGNUP_ACCEPTED
from tests.conftest import MakeUser, bearer, login, make_settings

SignupClient = Callable[..., TestClient]


@pytest.fixture
def signup_client_from(database_url: str) -> Iterator[SignupClient]:
    """`signup_client_from("203.0.113.7", signup_max_per_address=3)`: a test client with
    sign-up on, whose requests come from that address."""
    clients: list[TestClient] = []

    def make(address: str = "203.0.113.7", **settings: object) -> TestClient:
        app = create_app(make_settings(database_url, allow_signup=True, **settings))
        client = TestClient(app, client=(address, 50000))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def signup_client(signup_client_from: SignupClient) -> TestClient:
    return signup_client_from()


def sign_up(client: TestClient, username: str, email: str | None = None, **extra: object):  # type: ignore[no-untyped-def]
    body: dict[str, object] = {"username": username, "password": "password123", **extra}
    if email is not None:
        body["email"] = email
    return client.post("/signup", json=body)


def users_named(engine: Engine, username: str) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).where(User.username == username)) or 0


def test_signup_answers_404_when_disabled_whatever_the_body(client: TestClient) -> None:
    response = client.post("/signup", json={"username": "hal", "password": "password123"})
    assert response.status_code == 404
    assert client.post("/signup", json={}).status_code == 404
    assert client.post("/signup", content=b"not json").status_code == 404


def test_signup_when_disabled_answers_exactly_like_a_path_that_does_not_exist(
    client: TestClient,
) -> None:
    response = client.post("/signup", json={"username": "hal", "password": "password123"})
    nowhere = client.post("/no-such-path", json={"username": "hal", "password": "password123"})

    assert response.json() == nowhere.json() == {"detail": "Not Found"}


def test_signup_creates_a_user_with_role_user(signup_client: TestClient) -> None:
    response = sign_up(signup_client, "ivy")
    assert response.status_code == 202
    assert response.json() == {"detail": SIGNUP_ACCEPTED}
    tokens = login(signup_client, "ivy", "password123")
    me = signup_client.get("/identify/me", headers=bearer(tokens["access_token"])).json()
    assert me["roles"] == ["user"]


def test_signup_cannot_choose_roles(signup_client: TestClient) -> None:
    response = sign_up(signup_client, "jay", roles=["admin"])
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "roles"]


def test_a_taken_username_answers_exactly_like_a_free_one(
    signup_client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """The attack: sign up as a list of names and read which ones exist off a 409."""
    make_user("kim")
    free = sign_up(signup_client, "lee")
    taken = sign_up(signup_client, "kim")
    assert (taken.status_code, taken.content) == (free.status_code, free.content)
    assert "kim" not in taken.text
    assert users_named(db_engine, "kim") == 1
    with pytest.raises(AssertionError):  # the owner's password was not replaced
        login(signup_client, "kim", "password123")


def test_a_taken_email_answers_exactly_like_a_free_one(
    signup_client: TestClient, db_engine: Engine
) -> None:
    """The attack: test a list of email addresses for accounts through sign-up."""
    assert sign_up(signup_client, "mia", "mia@example.com").status_code == 202
    free = sign_up(signup_client, "ned", "ned@example.com")
    taken = sign_up(signup_client, "noa", "mia@example.com")
    assert (taken.status_code, taken.content) == (free.status_code, free.content)
    assert "email" not in taken.text.lower().replace(SIGNUP_ACCEPTED.lower(), "")
    assert users_named(db_engine, "noa") == 0


def test_a_refused_signup_still_costs_one_password_hash(
    signup_client: TestClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Otherwise the time of the answer tells a taken username from a free one."""
    make_user("oda")
    hashed: list[str] = []
    real_hash = passwords.hash_password
    monkeypatch.setattr(passwords, "hash_password", lambda p: hashed.append(p) or real_hash(p))
    monkeypatch.setattr("notes_api.users.service.hash_password", passwords.hash_password)
    sign_up(signup_client, "oda")
    assert len(hashed) == 1


def test_refused_signups_are_audited(
    signup_client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    make_user("pia")
    sign_up(signup_client, "pia")
    with db_engine.connect() as connection:
        event = connection.execute(
            select(AuditEvent.action, AuditEvent.target, AuditEvent.client_ip).where(
                AuditEvent.action == "user.signup_refused"
            )
        ).one()
    assert tuple(event) == ("user.signup_refused", "pia", "203.0.113.7")


def test_signups_past_the_count_of_an_address_are_429_and_create_nothing(
    signup_client_from: SignupClient, db_engine: Engine
) -> None:
    """The attack: sign-up had no throttle, so one address could probe or create at will."""
    client = signup_client_from("203.0.113.7", signup_max_per_address=3)
    for index in range(3):
        assert sign_up(client, f"quin{index}").status_code == 202
    refused = sign_up(client, "quin3")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60 * 60
    assert users_named(db_engine, "quin3") == 0
    other_address = signup_client_from("198.51.100.20", signup_max_per_address=3)
    assert sign_up(other_address, "quin4").status_code == 202


def test_a_concurrent_burst_of_signups_gets_no_more_than_the_count(
    signup_client_from: SignupClient, db_engine: Engine
) -> None:
    client = signup_client_from("203.0.113.7", signup_max_per_address=5)
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda i: sign_up(client, f"rex{i}").status_code, range(30)))
    assert statuses.count(202) == 5
    assert statuses.count(429) == 25
    with db_engine.connect() as connection:
        created = connection.scalar(select(func.count()).where(User.username.like("rex%")))
    assert created == 5


def test_signup_with_the_hashing_queue_full_is_503_and_creates_nothing(
    signup_client: TestClient, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "MAX_QUEUED_HASHES", 0)
    response = sign_up(signup_client, "sam")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert users_named(db_engine, "sam") == 0
