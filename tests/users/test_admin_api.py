"""User and role administration through HTTP (role `admin`)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.conftest import DEFAULT_PASSWORD, MakeUser, bearer, login, refresh_status

Headers = Callable[..., dict[str, str]]


@pytest.fixture
def admin(auth_headers: Headers) -> dict[str, str]:
    return auth_headers(roles=["admin"])


# roles


def test_roles_are_a_plain_array_of_name_and_description(
    client: TestClient, admin: dict[str, str]
) -> None:
    roles = client.get("/roles", headers=admin).json()
    assert [role["name"] for role in roles] == ["admin", "metrics", "user"]
    assert set(roles[0]) == {"name", "description"}


def test_create_role(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/roles", headers=admin, json={"name": "editor", "description": "Edits"})
    assert response.status_code == 201
    assert response.json() == {"name": "editor", "description": "Edits"}
    assert "editor" in [r["name"] for r in client.get("/roles", headers=admin).json()]


def test_duplicate_role_is_409_naming_it(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/roles", headers=admin, json={"name": "user"})
    assert response.status_code == 409
    assert response.json() == {"detail": "Role 'user' already exists"}


@pytest.mark.parametrize("name", ["Editor", "two words", "", "x" * 65, "1st", "nul\x00"])
def test_role_name_must_be_a_lower_case_slug(
    client: TestClient, admin: dict[str, str], name: str
) -> None:
    response = client.post("/roles", headers=admin, json={"name": name})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


def test_delete_role_removes_it_and_its_grants(
    client: TestClient, admin: dict[str, str], make_user: MakeUser
) -> None:
    client.post("/roles", headers=admin, json={"name": "editor"})
    user = make_user(roles=["user"])
    client.put(f"/users/{user.id}/roles/editor", headers=admin)
    assert client.delete("/roles/editor", headers=admin).status_code == 204
    assert client.get(f"/users/{user.id}", headers=admin).json()["roles"] == ["user"]
    assert client.delete("/roles/editor", headers=admin).status_code == 404


@pytest.mark.parametrize("name", ["admin", "user", "metrics"])
def test_builtin_roles_cannot_be_deleted(
    client: TestClient, admin: dict[str, str], name: str
) -> None:
    response = client.delete(f"/roles/{name}", headers=admin)
    assert response.status_code == 409
    assert response.json() == {"detail": f"Built-in role {name!r} cannot be deleted"}


# users


def test_create_user_with_roles(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/users",
        headers=admin,
        json={
            "username": "Alice",
            "email": "Alice@Example.com",
            "password": "password123",
            "roles": ["user", "admin"],
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "alice"
    assert body["email"] == "alice@example.com"
    assert body["roles"] == ["admin", "user"]
    assert body["disabled"] is False
    assert "password" not in str(body)
    assert response.headers["location"] == f"/users/{body['id']}"
    assert login(client, "alice", "password123")["access_token"]


def test_new_users_get_role_user_by_default(client: TestClient, admin: dict[str, str]) -> None:
    body = client.post(
        "/users", headers=admin, json={"username": "bob", "password": "password123"}
    ).json()
    assert body["roles"] == ["user"]


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "taken", "password": "password123"},
        {"username": "TAKEN", "password": "password123"},
        {"username": "other", "email": "taken@example.com", "password": "password123"},
    ],
)
def test_duplicate_username_or_email_is_409(
    client: TestClient, admin: dict[str, str], payload: dict[str, str]
) -> None:
    client.post(
        "/users",
        headers=admin,
        json={"username": "taken", "email": "taken@example.com", "password": "password123"},
    )
    assert client.post("/users", headers=admin, json=payload).status_code == 409


def test_unknown_role_on_create_is_404_and_creates_nothing(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.post(
        "/users",
        headers=admin,
        json={"username": "carol", "password": "password123", "roles": ["wizard"]},
    )
    assert response.status_code == 404
    users = client.get("/users", headers=admin).json()["items"]
    assert "carol" not in [user["username"] for user in users]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("password", "short"),
        ("password", "p" * 1025),
        ("username", "has space"),
        ("username", ""),
        ("email", "not-an-email"),
        ("password", "nul\x00password"),
    ],
)
def test_invalid_user_fields_are_422_naming_the_field(
    client: TestClient, admin: dict[str, str], field: str, value: str
) -> None:
    payload = {"username": "dave", "password": "password123", field: value}
    response = client.post("/users", headers=admin, json=payload)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["body", field]


def test_users_are_paged_with_their_roles(
    client: TestClient, admin: dict[str, str], make_user: MakeUser
) -> None:
    for _ in range(4):
        make_user(roles=["user"])
    first = client.get("/users", headers=admin, params={"limit": 3}).json()
    second = client.get(
        "/users", headers=admin, params={"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert len(first["items"]) == 3
    assert len(second["items"]) == 2  # 4 users + the admin
    assert second["next_cursor"] is None
    assert all(user["roles"] for user in first["items"] + second["items"])


def test_read_user(client: TestClient, admin: dict[str, str], make_user: MakeUser) -> None:
    user = make_user("erin", roles=["user"])
    body = client.get(f"/users/{user.id}", headers=admin).json()
    assert (body["id"], body["username"], body["roles"]) == (user.id, "erin", ["user"])


@pytest.mark.parametrize(("user_id", "status"), [(99999, 404), (2**31, 422), (0, 422)])
def test_unknown_or_impossible_user_ids(
    client: TestClient, admin: dict[str, str], user_id: int, status: int
) -> None:
    assert client.get(f"/users/{user_id}", headers=admin).status_code == status


def test_disabling_a_user_revokes_their_refresh_tokens_and_logins(
    client: TestClient, admin: dict[str, str], make_user: MakeUser
) -> None:
    user = make_user()
    tokens = login(client, user.username)
    response = client.patch(f"/users/{user.id}", headers=admin, json={"disabled": True})
    assert response.status_code == 200
    assert response.json()["disabled"] is True
    assert refresh_status(client, tokens["refresh_token"]) == 400
    failed = client.post("/token", data={"username": user.username, "password": DEFAULT_PASSWORD})
    assert failed.status_code == 400


@pytest.mark.parametrize("not_a_boolean", [0, 1, "true", "yes", None])
def test_disabled_takes_a_json_boolean_only(
    client: TestClient, admin: dict[str, str], make_user: MakeUser, not_a_boolean: object
) -> None:
    # The schema says boolean; lax validation read 0 as false and 1 as true.
    user = make_user()
    response = client.patch(f"/users/{user.id}", headers=admin, json={"disabled": not_a_boolean})
    if not_a_boolean is None:  # null: leave it as it is
        assert response.status_code == 200
        assert response.json()["disabled"] is False
    else:
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "disabled"]
    login(client, user.username)  # still enabled


def test_password_change_revokes_refresh_tokens(
    client: TestClient, admin: dict[str, str], make_user: MakeUser
) -> None:
    user = make_user()
    tokens = login(client, user.username)
    client.patch(f"/users/{user.id}", headers=admin, json={"password": "brand-new-password"})
    assert refresh_status(client, tokens["refresh_token"]) == 400
    assert login(client, user.username, "brand-new-password")["access_token"]


def test_admin_cannot_disable_themself(client: TestClient, make_user: MakeUser) -> None:
    me = make_user("root", roles=["admin"])
    headers = bearer(login(client, "root")["access_token"])
    assert (
        client.patch(f"/users/{me.id}", headers=headers, json={"disabled": True}).status_code == 409
    )


def test_email_taken_by_another_user_is_409(client: TestClient, admin: dict[str, str]) -> None:
    client.post(
        "/users",
        headers=admin,
        json={"username": "fay", "email": "fay@example.com", "password": "password123"},
    )
    gus = client.post(
        "/users", headers=admin, json={"username": "gus", "password": "password123"}
    ).json()
    response = client.patch(f"/users/{gus['id']}", headers=admin, json={"email": "fay@example.com"})
    assert response.status_code == 409


def test_an_admin_can_disable_another_admin(client: TestClient, make_user: MakeUser) -> None:
    make_user("root", roles=["admin"])
    deputy = make_user("deputy", roles=["admin"])
    headers = bearer(login(client, "root")["access_token"])

    response = client.patch(f"/users/{deputy.id}", headers=headers, json={"disabled": True})

    assert response.status_code == 200
    assert client.get(f"/users/{deputy.id}", headers=headers).json()["disabled"] is True


# grants


def test_granting_a_role_to_oneself_is_403_saying_so(
    client: TestClient, make_user: MakeUser
) -> None:
    me = make_user("root", roles=["admin"])
    headers = bearer(login(client, "root")["access_token"])

    response = client.put(f"/users/{me.id}/roles/metrics", headers=headers)

    assert response.status_code == 403
    assert response.json() == {"detail": "Nobody may grant roles to themselves"}
    assert client.get(f"/users/{me.id}", headers=headers).json()["roles"] == ["admin"]


def test_grant_and_revoke_are_idempotent(
    client: TestClient, admin: dict[str, str], make_user: MakeUser
) -> None:
    user = make_user(roles=["user"])
    for _ in range(2):
        assert client.put(f"/users/{user.id}/roles/admin", headers=admin).status_code == 204
    assert client.get(f"/users/{user.id}", headers=admin).json()["roles"] == ["admin", "user"]
    for _ in range(2):
        assert client.delete(f"/users/{user.id}/roles/admin", headers=admin).status_code == 204
    assert client.get(f"/users/{user.id}", headers=admin).json()["roles"] == ["user"]


def test_granted_role_reaches_the_next_token(
    client: TestClient, admin: dict[str, str], make_user: MakeUser
) -> None:
    user = make_user(roles=["user"])
    tokens = login(client, user.username)
    client.put(f"/users/{user.id}/roles/admin", headers=admin)
    renewed = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    ).json()
    assert client.get("/roles", headers=bearer(renewed["access_token"])).status_code == 200


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/users/99999/roles/admin", 404),
        ("/users/{id}/roles/wizard", 404),
        ("/users/{id}/roles/Bad%20Name", 422),
    ],
)
def test_grant_to_unknown_user_or_role(
    client: TestClient, admin: dict[str, str], make_user: MakeUser, path: str, status: int
) -> None:
    user = make_user()
    url = path.format(id=user.id)
    assert client.put(url, headers=admin).status_code == status
    assert client.delete(url, headers=admin).status_code == status


def test_last_enabled_admin_keeps_the_admin_role(client: TestClient, make_user: MakeUser) -> None:
    root = make_user("root", roles=["admin"])
    headers = bearer(login(client, "root")["access_token"])
    refused = client.delete(f"/users/{root.id}/roles/admin", headers=headers)
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "The last enabled administrator must stay an enabled administrator"
    }
    other = make_user("second", roles=["admin"])
    assert client.delete(f"/users/{other.id}/roles/admin", headers=headers).status_code == 204


def test_concurrent_creates_of_one_username_give_one_201_and_one_409(
    client: TestClient, admin: dict[str, str]
) -> None:
    def create(_: int) -> int:
        payload = {"username": "racer", "password": "password123"}
        return client.post("/users", headers=admin, json=payload).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(create, range(4)))
    assert statuses == [201, 409, 409, 409]


def test_concurrent_creates_of_one_role_give_one_201(
    client: TestClient, admin: dict[str, str]
) -> None:
    def create(_: int) -> int:
        return client.post("/roles", headers=admin, json={"name": "racer"}).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(create, range(4)))
    assert statuses == [201, 409, 409, 409]


def test_patch_email_null_clears_the_email(client: TestClient, admin: dict[str, str]) -> None:
    created = client.post(
        "/users",
        headers=admin,
        json={"username": "lia", "email": "lia@example.com", "password": "password123"},
    ).json()
    response = client.patch(f"/users/{created['id']}", headers=admin, json={"email": None})
    assert response.json()["email"] is None


def test_patch_without_email_keeps_it(client: TestClient, admin: dict[str, str]) -> None:
    created = client.post(
        "/users",
        headers=admin,
        json={"username": "max", "email": "max@example.com", "password": "password123"},
    ).json()
    response = client.patch(f"/users/{created['id']}", headers=admin, json={"disabled": False})
    assert response.json()["email"] == "max@example.com"


def test_two_admins_revoking_each_other_leave_one_admin(
    client: TestClient, make_user: MakeUser
) -> None:
    first, second = make_user("ann", roles=["admin"]), make_user("ben", roles=["admin"])
    ann = bearer(login(client, "ann")["access_token"])
    ben = bearer(login(client, "ben")["access_token"])

    def revoke(pair: tuple[dict[str, str], int]) -> int:
        headers, target = pair
        return client.delete(f"/users/{target}/roles/admin", headers=headers).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(revoke, [(ann, second.id), (ben, first.id)]))
    # The loser is refused by the last-admin rule (409), or, when the winner committed
    # before it started, by the re-check that it is still an administrator (401).
    assert statuses in ([204, 409], [204, 401])


def test_the_last_enabled_admin_cannot_be_disabled_by_a_stale_admin_token(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """An admin whose own role was revoked in SQL still holds a token that says admin."""
    make_user("old", roles=["admin"])
    last = make_user("last", roles=["admin"])
    stale = bearer(login(client, "old")["access_token"])
    with db_engine.begin() as connection:
        connection.execute(text("DELETE FROM user_roles WHERE user_id <> :id"), {"id": last.id})
    response = client.patch(f"/users/{last.id}", headers=stale, json={"disabled": True})
    assert response.status_code == 401  # no longer an administrator, per the database
