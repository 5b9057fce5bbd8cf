"""Personal access tokens through HTTP: made once, stored hashed, limited to the owner's
current roles, refused at once when deleted, expired or of a disabled owner."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select, update

from notes_api.main import create_app
from notes_api.personal_tokens.models import PersonalAccessToken
from notes_api.users.models import Role, User, user_roles
from tests import conftest
from tests.conftest import MakeUser, bearer, login, make_settings

INVALID = 'Bearer error="invalid_token"'
Create = Callable[..., dict[str, object]]


@pytest.fixture
def owner(make_user: MakeUser) -> conftest.TestUser:
    return make_user("owner", roles=["user", "admin"])


@pytest.fixture
def owner_headers(client: TestClient, owner: conftest.TestUser) -> dict[str, str]:
    return bearer(login(client, owner.username)["access_token"])


@pytest.fixture
def create(client: TestClient, owner_headers: dict[str, str]) -> Create:
    def make(**body: object) -> dict[str, object]:
        answer = client.post("/account/tokens", json={"name": "ci", **body}, headers=owner_headers)
        assert answer.status_code == 201, answer.text
        created: dict[str, object] = answer.json()
        return created

    return make


def pat(created: dict[str, object]) -> dict[str, str]:
    return bearer(str(created["token"]))


def stored(db_engine: Engine) -> list[PersonalAccessToken]:
    with db_engine.connect() as connection:
        return list(connection.execute(select(PersonalAccessToken)).all())  # type: ignore[arg-type]


def test_a_new_token_is_shown_once_and_stored_as_a_digest(
    client: TestClient, owner_headers: dict[str, str], db_engine: Engine
) -> None:
    answer = client.post("/account/tokens", json={"name": "backup"}, headers=owner_headers)

    assert answer.status_code == 201
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    token = body["token"]
    assert token.startswith("nap_")
    assert len(token) >= 4 + 43
    assert set(token[4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert body["roles"] == ["admin", "user"]
    assert body["last_used_at"] is None
    (row,) = stored(db_engine)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(tuple(row))
    listed = client.get("/account/tokens", headers=owner_headers).json()
    assert [item["id"] for item in listed] == [body["id"]]
    assert "token" not in listed[0]


def test_default_lifetime_is_30_days_and_1_to_365_are_accepted(
    client: TestClient, owner_headers: dict[str, str], create: Create
) -> None:
    created = create()
    lifetime = datetime.fromisoformat(str(created["expires_at"])) - datetime.fromisoformat(
        str(created["created_at"])
    )

    assert lifetime == timedelta(days=30)
    for days in (0, 366, "30x"):
        answer = client.post(
            "/account/tokens", json={"name": "x", "expires_in_days": days}, headers=owner_headers
        )
        assert answer.status_code == 422
        assert answer.json()["detail"][0]["loc"] == ["body", "expires_in_days"]
    assert [item["id"] for item in client.get("/account/tokens", headers=owner_headers).json()] == [
        created["id"]
    ]


def test_a_personal_token_calls_protected_routes_with_its_roles(
    client: TestClient, owner: conftest.TestUser, create: Create
) -> None:
    only_user = create(roles=["user"])

    me = client.get("/identify/me", headers=pat(only_user))

    assert me.status_code == 200
    assert me.json() == {"id": owner.id, "username": "owner", "roles": ["user"]}
    assert client.post("/notes", json={"title": "t"}, headers=pat(only_user)).status_code == 201
    assert client.get("/users", headers=pat(only_user)).status_code == 403
    assert client.get("/users", headers=pat(create())).status_code == 200


def test_roles_the_caller_does_not_hold_are_refused_and_nothing_is_made(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user(roles=["user"])
    headers = bearer(login(client, user.username)["access_token"])

    answer = client.post(
        "/account/tokens", json={"name": "x", "roles": ["user", "admin"]}, headers=headers
    )

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "roles"]
    assert stored(db_engine) == []


def test_a_deleted_token_is_refused_at_once(
    client: TestClient, owner_headers: dict[str, str], create: Create
) -> None:
    created = create()
    assert client.get("/identify/me", headers=pat(created)).status_code == 200

    deleted = client.delete(f"/account/tokens/{created['id']}", headers=owner_headers)
    after = client.get("/identify/me", headers=pat(created))

    assert deleted.status_code == 204
    assert after.status_code == 401
    assert after.headers["www-authenticate"] == INVALID


def test_someone_elses_token_cannot_be_deleted(
    client: TestClient, make_user: MakeUser, create: Create
) -> None:
    created = create()
    other = bearer(login(client, make_user().username)["access_token"])

    assert client.delete(f"/account/tokens/{created['id']}", headers=other).status_code == 404
    assert client.get("/identify/me", headers=pat(created)).status_code == 200


def test_an_expired_token_is_refused(client: TestClient, create: Create, db_engine: Engine) -> None:
    created = create()
    with db_engine.begin() as connection:
        connection.execute(
            update(PersonalAccessToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    answer = client.get("/identify/me", headers=pat(created))

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == INVALID


def test_a_disabled_owners_tokens_are_refused(
    client: TestClient, owner: conftest.TestUser, create: Create, db_engine: Engine
) -> None:
    created = create()
    with db_engine.begin() as connection:
        connection.execute(update(User).where(User.id == owner.id).values(disabled=True))

    answer = client.get("/identify/me", headers=pat(created))

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == INVALID


def test_a_role_taken_from_the_owner_leaves_the_token_too(
    client: TestClient, owner: conftest.TestUser, create: Create, db_engine: Engine
) -> None:
    created = create()
    with db_engine.begin() as connection:
        admin = connection.execute(select(Role.id).where(Role.name == "admin")).scalar_one()
        connection.execute(
            delete(user_roles).where(
                user_roles.c.user_id == owner.id, user_roles.c.role_id == admin
            )
        )

    assert client.get("/identify/me", headers=pat(created)).json()["roles"] == ["user"]
    assert client.get("/users", headers=pat(created)).status_code == 403


@pytest.mark.parametrize(
    "token",
    [
        "nap_",
        "nap_short",
        "nap_" + "A" * 43,  # well formed, unknown
        "nap_" + "A" * 42 + "!",
        "nap_" + "A" * 500,
    ],
)
def test_a_malformed_or_unknown_token_is_invalid(client: TestClient, token: str) -> None:
    answer = client.get("/identify/me", headers=bearer(token))

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == INVALID
    assert answer.json() == {"detail": "Invalid or expired access token"}


def test_a_personal_token_cannot_manage_the_account(client: TestClient, create: Create) -> None:
    created = create()
    headers = pat(created)

    answers = [
        client.get("/account/tokens", headers=headers),
        client.post("/account/tokens", json={"name": "more"}, headers=headers),
        client.delete(f"/account/tokens/{created['id']}", headers=headers),
    ]

    assert [answer.status_code for answer in answers] == [403, 403, 403]
    assert client.get("/identify/me", headers=headers).status_code == 200


def test_the_account_refusal_names_the_scope_and_says_to_log_in(
    client: TestClient, create: Create
) -> None:
    answer = client.get("/account/tokens", headers=pat(create()))

    assert answer.status_code == 403
    assert answer.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'
    assert answer.json() == {
        "detail": "A personal access token cannot manage the account; log in instead"
    }


def test_last_used_at_is_written_at_most_once_a_minute(
    client: TestClient, owner_headers: dict[str, str], create: Create, db_engine: Engine
) -> None:
    created = create()

    def last_used() -> str | None:
        (item,) = client.get("/account/tokens", headers=owner_headers).json()
        value: str | None = item["last_used_at"]
        return value

    client.get("/identify/me", headers=pat(created))
    first = last_used()
    client.get("/identify/me", headers=pat(created))
    assert first is not None
    assert last_used() == first

    with db_engine.begin() as connection:
        connection.execute(
            update(PersonalAccessToken).values(
                last_used_at=datetime.now(UTC) - timedelta(seconds=61)
            )
        )
    client.get("/identify/me", headers=pat(created))
    later = last_used()
    assert later is not None
    # Timestamps are whole seconds: the rewrite may share `first`'s second, never the old one.
    assert datetime.fromisoformat(later) >= datetime.fromisoformat(first)


def test_creating_and_deleting_are_audited_without_the_token(
    client: TestClient, owner_headers: dict[str, str], create: Create
) -> None:
    created = create(roles=["user"])
    client.delete(f"/account/tokens/{created['id']}", headers=owner_headers)

    events = client.get("/audit", headers=owner_headers).json()["items"]

    actions = [event["action"] for event in events]
    assert actions[:2] == ["personal_token.deleted", "personal_token.created"]
    assert str(created["token"]) not in str(events)


def test_mfa_required_roles_need_a_second_factor_to_go_into_a_token(
    database_url: str, make_user: MakeUser
) -> None:
    user = make_user(roles=["user", "admin"])
    settings = make_settings(database_url, mfa_required_roles="admin")
    with TestClient(create_app(settings)) as client:
        headers = bearer(login(client, user.username)["access_token"])  # password only
        asked = client.post(
            "/account/tokens", json={"name": "x", "roles": ["admin"]}, headers=headers
        )
        by_default = client.post("/account/tokens", json={"name": "y"}, headers=headers)

    assert asked.status_code == 401
    assert asked.headers["www-authenticate"] == (
        'Bearer error="insufficient_user_authentication", '
        'error_description="The role admin requires a second factor: log in again with it '
        '(enroll at /account/mfa/totp first if needed)"'
    )
    assert by_default.status_code == 201
    assert by_default.json()["roles"] == ["user"]


def test_a_role_made_mfa_required_later_stops_counting_for_a_password_only_token(
    database_url: str, make_user: MakeUser, create: Create
) -> None:
    made_before = create(roles=["user", "admin"])  # MFA_REQUIRED_ROLES empty: allowed
    settings = make_settings(database_url, mfa_required_roles="admin")
    with TestClient(create_app(settings)) as client:
        me = client.get("/identify/me", headers=pat(made_before))
        users = client.get("/users", headers=pat(made_before))

    assert me.json()["roles"] == ["user"]
    assert users.status_code == 403
