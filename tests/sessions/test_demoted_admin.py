"""A disabled and demoted administrator cannot reinstate itself with the token it still holds.

The revocation cache refuses that token within a second; these tests blind the
cache to show that the administrative writes re-check the database anyway.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from notes_api.auth.authorize import required_roles
from notes_api.auth.revocation_cache import RevocationCache
from notes_api.auth.roles import BuiltinRole
from notes_api.users.admin_actor import admin_powers, current_admin
from tests.conftest import MakeUser, bearer, login, refresh_status
from tests.mfa.conftest import enroll, password_step
from tests.route_walk import api_routes, dependency_calls


@pytest.fixture
def blind_client(app: FastAPI) -> Iterator[TestClient]:
    """A worker that has not heard of any revocation yet (the second before the notice)."""
    with TestClient(app) as client:
        app.state.revocations = RevocationCache(window_seconds=60, trust_seconds=math.inf)
        yield client


@pytest.fixture
def demoted(
    blind_client: TestClient, make_user: MakeUser, db_engine: Engine
) -> tuple[dict[str, str], int]:
    """An administrator's headers, taken before another administrator disabled and demoted
    it in the database; and the other administrator's id."""
    mallory = make_user(roles=["admin", "user"])
    other = make_user(roles=["admin", "user"])
    headers = bearer(login(blind_client, mallory.username)["access_token"])
    with db_engine.begin() as connection:
        connection.execute(
            text("UPDATE users SET disabled = true WHERE id = :id"), {"id": mallory.id}
        )
        connection.execute(text("DELETE FROM user_roles WHERE user_id = :id"), {"id": mallory.id})
    return headers | {"X-Mallory-Id": str(mallory.id)}, other.id


def test_a_demoted_administrator_cannot_enable_itself(
    blind_client: TestClient, demoted: tuple[dict[str, str], int], db_engine: Engine
) -> None:
    headers, _other = demoted
    own_id = headers["X-Mallory-Id"]
    answer = blind_client.patch(f"/users/{own_id}", json={"disabled": False}, headers=headers)
    assert answer.status_code == 401
    with db_engine.connect() as connection:
        assert connection.scalar(text("SELECT disabled FROM users WHERE id = :id"), {"id": own_id})


def test_a_demoted_administrator_cannot_grant_itself_admin(
    blind_client: TestClient, demoted: tuple[dict[str, str], int]
) -> None:
    headers, _other = demoted
    own_id = headers["X-Mallory-Id"]
    assert blind_client.put(f"/users/{own_id}/roles/admin", headers=headers).status_code == 401


@pytest.mark.parametrize(
    "change", [{"password": "taken over by mallory"}, {"disabled": True}, {"email": "m@x.org"}]
)
def test_a_demoted_administrator_cannot_touch_another_administrator(
    blind_client: TestClient, demoted: tuple[dict[str, str], int], change: dict[str, object]
) -> None:
    headers, other = demoted
    assert blind_client.patch(f"/users/{other}", json=change, headers=headers).status_code == 401


def test_a_demoted_administrator_cannot_create_users_or_roles(
    blind_client: TestClient, demoted: tuple[dict[str, str], int]
) -> None:
    headers, other = demoted
    new_user = {"username": "sleeper", "password": "a long password", "roles": ["admin"]}
    assert blind_client.post("/users", json=new_user, headers=headers).status_code == 401
    assert (
        blind_client.post("/roles", json={"name": "backdoor"}, headers=headers).status_code == 401
    )
    assert blind_client.delete(f"/users/{other}/roles/admin", headers=headers).status_code == 401


def test_a_demoted_administrator_cannot_end_another_administrators_sessions(
    blind_client: TestClient, demoted: tuple[dict[str, str], int], db_engine: Engine
) -> None:
    headers, other = demoted
    other_name = _username(db_engine, other)
    other_refresh = login(blind_client, other_name)["refresh_token"]
    assert blind_client.delete(f"/users/{other}/sessions", headers=headers).status_code == 401
    assert refresh_status(blind_client, other_refresh) == 200


def test_a_demoted_administrator_cannot_remove_anothers_second_factor(
    blind_client: TestClient, demoted: tuple[dict[str, str], int], db_engine: Engine
) -> None:
    headers, other = demoted
    other_name = _username(db_engine, other)
    enroll(blind_client, bearer(login(blind_client, other_name)["access_token"]))
    assert blind_client.delete(f"/users/{other}/mfa", headers=headers).status_code == 401
    password_step(blind_client, other_name)  # still asks for the second factor


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_a_demoted_administrator_cannot_write_someone_elses_note(
    blind_client: TestClient,
    demoted: tuple[dict[str, str], int],
    make_user: MakeUser,
    db_engine: Engine,
    method: str,
) -> None:
    headers, _other = demoted
    owner = bearer(login(blind_client, make_user().username)["access_token"])
    note = blind_client.post("/notes", json={"title": "mine"}, headers=owner).json()
    answer = blind_client.request(
        method, f"/notes/{note['id']}", json={"title": "defaced"}, headers=headers
    )
    assert answer.status_code == 401
    assert blind_client.get(f"/notes/{note['id']}", headers=owner).json()["title"] == "mine"


def _username(db_engine: Engine, user_id: int) -> str:
    with db_engine.connect() as connection:
        name: str = connection.scalar(
            text("SELECT username FROM users WHERE id = :id"), {"id": user_id}
        )
    return name


def test_a_disabled_administrator_still_holding_the_role_is_refused(
    blind_client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """Disabled, not demoted: `disabled` alone must stop the token."""
    mallory, victim = make_user(roles=["admin"]), make_user()
    headers = bearer(login(blind_client, mallory.username)["access_token"])
    with db_engine.begin() as connection:
        connection.execute(
            text("UPDATE users SET disabled = true WHERE id = :id"), {"id": mallory.id}
        )
    answer = blind_client.patch(f"/users/{victim.id}", json={"disabled": True}, headers=headers)
    assert answer.status_code == 401


def test_an_administrator_demoted_to_user_is_refused(
    blind_client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """Still enabled and still holding `user`: only the `admin` role itself counts."""
    mallory, victim = make_user(roles=["admin", "user"]), make_user()
    headers = bearer(login(blind_client, mallory.username)["access_token"])
    with db_engine.begin() as connection:
        connection.execute(
            text(
                "DELETE FROM user_roles WHERE user_id = :id"
                " AND role_id = (SELECT id FROM roles WHERE name = 'admin')"
            ),
            {"id": mallory.id},
        )
    answer = blind_client.patch(f"/users/{victim.id}", json={"disabled": True}, headers=headers)
    assert answer.status_code == 401


def test_nobody_may_grant_roles_to_themselves(client: TestClient, make_user: MakeUser) -> None:
    admin = make_user(roles=["admin"])
    headers = bearer(login(client, admin.username)["access_token"])
    assert client.put(f"/users/{admin.id}/roles/user", headers=headers).status_code == 403
    other = make_user(roles=[])
    assert client.put(f"/users/{other.id}/roles/user", headers=headers).status_code == 204


def test_an_administrator_still_in_office_can_administer(
    client: TestClient, make_user: MakeUser
) -> None:
    headers = bearer(login(client, make_user(roles=["admin"]).username)["access_token"])
    user = make_user()
    assert client.patch(f"/users/{user.id}", json={"disabled": True}, headers=headers).is_success


ADMIN_RECHECKS = frozenset({current_admin, admin_powers})
"""The dependencies that re-read, in the database, that an `admin` token's holder still is one."""

NOT_ADMINISTRATIVE = {
    ("POST", "/notes"): "creates a note of the caller's own: `admin` lets nothing more through",
}
"""Writes that `admin` may call but that give an administrator nothing a `user` lacks."""


def _writes_the_admin_role_allows(app: FastAPI) -> dict[tuple[str, str], APIRoute]:
    """Every non-GET route whose @authorize roles include `admin`. A route that checks the
    role only inside its body is invisible here: such checks go through `AdminPowers`."""
    writes = {}
    for path, route in api_routes(app):
        if BuiltinRole.ADMIN not in (required_roles(route.endpoint) or ()):
            continue
        for method in route.methods - {"GET", "HEAD"}:
            writes[(method, path)] = route
    return writes


def test_every_write_the_admin_role_allows_rechecks_the_caller(app: FastAPI) -> None:
    writes = _writes_the_admin_role_allows(app)
    unchecked = {
        route
        for route, endpoint in writes.items()
        if route not in NOT_ADMINISTRATIVE
        and ADMIN_RECHECKS.isdisjoint(dependency_calls(endpoint.dependant))
    }
    assert unchecked == set()
    assert set(NOT_ADMINISTRATIVE) <= set(writes)  # no stale exemption
