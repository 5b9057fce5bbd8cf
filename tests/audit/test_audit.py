"""The audit trail through HTTP: what is recorded, what is not, and who may read it."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from notes_api.sessions.models import RefreshToken
from tests.conftest import MakeUser, bearer, login, refresh

Headers = Callable[..., dict[str, str]]


def events(client: TestClient, admin: dict[str, str], **params: object) -> list[dict[str, object]]:
    response = client.get("/audit", headers=admin, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


def test_login_success_and_failure_are_recorded_without_the_password(
    app: FastAPI, client: TestClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = make_user("alice")
    with TestClient(app, client=("198.51.100.4", 4242)) as remote:
        remote.post("/token", data={"username": "alice", "password": "secret-guess-42"})
        login(remote, "alice")
    admin = auth_headers(roles=["admin"])
    recorded = events(client, admin)
    by_action = {(e["action"], e["target"]) for e in recorded}
    assert ("login.failed", "alice") in by_action
    assert ("login.succeeded", "alice") in by_action
    assert "secret-guess-42" not in str(recorded)
    failed = next(e for e in recorded if e["action"] == "login.failed")
    assert failed["client_ip"] == "198.51.100.4"
    assert failed["actor_id"] == user.id
    succeeded = next(
        e for e in recorded if (e["action"], e["target"]) == ("login.succeeded", "alice")
    )
    assert (succeeded["actor_id"], succeeded["client_ip"]) == (user.id, "198.51.100.4")
    assert succeeded["detail"] == {}  # a second factor's method is recorded only after one


def test_a_failed_login_for_an_unknown_username_records_the_address_and_no_user(
    app: FastAPI, make_user: MakeUser
) -> None:
    admin_user = make_user(roles=["admin"])
    with TestClient(app, client=("198.51.100.5", 4242)) as remote:
        remote.post("/token", data={"username": "nobody", "password": "secret-guess-42"})
        admin = bearer(login(remote, admin_user.username)["access_token"])
        failed = [e for e in events(remote, admin) if e["action"] == "login.failed"]
    assert [(e["target"], e["actor_id"], e["client_ip"]) for e in failed] == [
        ("nobody", None, "198.51.100.5")
    ]


def test_events_are_newest_first_and_paged(
    client: TestClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    make_user("bob")
    for _ in range(3):
        client.post("/token", data={"username": "bob", "password": "wrong-password"})
    admin = auth_headers(roles=["admin"])
    first = client.get("/audit", headers=admin, params={"limit": 2}).json()
    second = client.get(
        "/audit", headers=admin, params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 4


def test_role_changes_record_the_acting_admin_the_target_and_the_role(
    client: TestClient, make_user: MakeUser
) -> None:
    admin_user = make_user("root", roles=["admin"])
    target = make_user("carol", roles=["user"])
    admin = bearer(login(client, "root")["access_token"])
    client.put(f"/users/{target.id}/roles/admin", headers=admin)
    client.delete(f"/users/{target.id}/roles/admin", headers=admin)
    client.post("/roles", headers=admin, json={"name": "editor"})
    client.delete("/roles/editor", headers=admin)
    recorded = events(client, admin)
    changes = [
        (e["action"], e["target"], e["detail"]) for e in recorded if e["actor_id"] == admin_user.id
    ]
    assert changes[:4] == [
        ("role.deleted", "editor", {}),
        ("role.created", "editor", {}),
        ("role.revoked", "carol", {"role": "admin"}),
        ("role.granted", "carol", {"role": "admin"}),
    ]


def test_refresh_reuse_is_recorded(
    client: TestClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    make_user("dave")
    tokens = login(client, "dave")
    for _ in range(2):
        client.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        )
    actions = [e["action"] for e in events(client, auth_headers(roles=["admin"]))]
    assert "refresh.reused" in actions


def test_refresh_reuse_records_the_user_the_family_and_the_replaying_address(
    app: FastAPI, make_user: MakeUser, db_engine: Engine
) -> None:
    user, admin_user = make_user("frank"), make_user(roles=["admin"])
    # One test client at a time: two running at once share the app's engine across loops.
    with TestClient(app, client=("198.51.100.6", 4242)) as owner:
        tokens = login(owner, "frank")
        refresh(owner, tokens["refresh_token"])
    with TestClient(app, client=("198.51.100.7", 4242)) as thief:
        replay = thief.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        )
        assert replay.status_code == 400
        admin = bearer(login(thief, admin_user.username)["access_token"])
        reused = [e for e in events(thief, admin) if e["action"] == "refresh.reused"]
    with db_engine.connect() as connection:
        family = connection.scalar(
            select(RefreshToken.family_id).where(RefreshToken.user_id == user.id).distinct()
        )
    assert [(e["actor_id"], e["target"], e["client_ip"]) for e in reused] == [
        (user.id, family, "198.51.100.7")
    ]


def test_an_administrators_action_records_the_administrators_address(
    app: FastAPI, make_user: MakeUser
) -> None:
    admin_user = make_user("root", roles=["admin"])
    target = make_user("grace", roles=["user"])
    with TestClient(app, client=("198.51.100.9", 4242)) as remote:
        admin = bearer(login(remote, "root")["access_token"])
        assert remote.put(f"/users/{target.id}/roles/admin", headers=admin).status_code == 204
        granted = [e for e in events(remote, admin) if e["action"] == "role.granted"]
    assert [(e["actor_id"], e["target"], e["client_ip"]) for e in granted] == [
        (admin_user.id, "grace", "198.51.100.9")
    ]


def test_user_creation_and_disabling_are_recorded(
    client: TestClient, auth_headers: Headers
) -> None:
    admin = auth_headers(roles=["admin"])
    created = client.post(
        "/users", headers=admin, json={"username": "erin", "password": "password123"}
    ).json()
    client.patch(f"/users/{created['id']}", headers=admin, json={"disabled": True})
    client.patch(f"/users/{created['id']}", headers=admin, json={"disabled": False})
    client.patch(f"/users/{created['id']}", headers=admin, json={"password": "another-pass1"})
    actions = [e["action"] for e in events(client, admin) if e["target"] == "erin"]
    assert actions == ["user.password_changed", "user.enabled", "user.disabled", "user.created"]


def test_audit_is_for_admins_only(client: TestClient, auth_headers: Headers) -> None:
    assert client.get("/audit").status_code == 401
    assert client.get("/audit", headers=auth_headers(roles=["user"])).status_code == 403


def test_bad_audit_cursor_is_422(client: TestClient, auth_headers: Headers) -> None:
    response = client.get("/audit", headers=auth_headers(roles=["admin"]), params={"cursor": "%%"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]
