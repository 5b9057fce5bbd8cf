"""GET /account, POST /account/password, the session list and ending sessions, over HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from notes_api.audit.models import AuditEvent
from notes_api.clock import utcnow
from notes_api.sessions import service as sessions_service
from notes_api.sessions import session_store
from notes_api.sessions.session_model import LoginSession
from tests.conftest import DEFAULT_PASSWORD, DocumentedStatuses, MakeUser, bearer, login
from tests.sessions.waiting import eventually

NEW_PASSWORD = "a brand new passphrase"


def sid_of(tokens: dict[str, str]) -> str:
    claims: dict[str, Any] = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return str(claims["sid"])


def refused(client: TestClient, tokens: dict[str, str]) -> bool:
    """The access token is refused and the refresh token is dead.

    The refresh token is tried only once the access token is refused: presenting it
    earlier would rotate it, and a later poll presenting it again would be reuse, which
    ends the session by itself and would hide a session the code under test left alive.
    """
    me = client.get("/identify/me", headers=bearer(tokens["access_token"]))
    if me.status_code != 401:
        return False
    renewed = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    return renewed.status_code == 400


def works(client: TestClient, tokens: dict[str, str]) -> bool:
    return client.get("/identify/me", headers=bearer(tokens["access_token"])).status_code == 200


def audit_actions(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def audited(client: TestClient, make_user: MakeUser, action: str) -> list[dict[str, Any]]:
    """The audit trail's `action` events, newest first, as an administrator reads them."""
    admin = bearer(login(client, make_user(roles=["admin"]).username)["access_token"])
    page = client.get("/audit", headers=admin, params={"limit": 100}).json()
    return [event for event in page["items"] if event["action"] == action]


def test_get_account(client: TestClient, make_user: MakeUser) -> None:
    user = make_user(roles=["user", "admin"])
    tokens = login(client, user.username)
    response = client.get("/account", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.json() == {
        "id": user.id,
        "username": user.username,
        "email": None,
        "roles": ["admin", "user"],
        "mfa": {"totp": False, "recovery_codes_left": 0},
    }
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/account"),
        ("POST", "/account/password"),
        ("GET", "/account/sessions"),
        ("DELETE", "/account/sessions"),
        ("DELETE", "/account/sessions/abc"),
    ],
)
def test_account_routes_need_a_token(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_password_change_ends_every_other_session_and_keeps_this_one(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user()
    mine, other, third = (login(client, user.username) for _ in range(3))
    response = client.post(
        "/account/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(mine["access_token"]),
    )
    assert response.status_code == 204
    assert eventually(lambda: refused(client, other) and refused(client, third))
    assert works(client, mine)
    assert (
        client.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": mine["refresh_token"]}
        ).status_code
        == 200
    )
    login(client, user.username, NEW_PASSWORD)
    bad = client.post("/token", data={"username": user.username, "password": DEFAULT_PASSWORD})
    assert bad.status_code == 400
    assert "user.password_changed" in audit_actions(db_engine)


def test_a_wrong_current_password_is_400_changes_nothing_and_counts_toward_throttling(
    client: TestClient,
    make_user: MakeUser,
    db_engine: Engine,
    documented_statuses: DocumentedStatuses,
) -> None:
    user = make_user()
    tokens, other = login(client, user.username), login(client, user.username)
    headers = bearer(tokens["access_token"])
    wrong = {"current_password": "not my password", "new_password": NEW_PASSWORD}
    answers = [client.post("/account/password", json=wrong, headers=headers) for _ in range(5)]
    assert [a.status_code for a in answers] == [400] * 5
    assert answers[0].json() == {"detail": "The current password is wrong"}
    assert works(client, other)
    throttled = client.post(
        "/token", data={"username": user.username, "password": DEFAULT_PASSWORD}
    )
    assert throttled.status_code == 429  # five failures: logins from this address wait
    sixth = client.post(
        "/account/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert sixth.status_code == 429
    assert sixth.json()["error"] == "temporarily_unavailable"
    assert "Retry-After" in sixth.headers
    assert {400, 429} <= (documented_statuses("POST", "/account/password") or set())
    assert audit_actions(db_engine).count("user.password_change_failed") == 5


def test_wrong_current_passwords_from_one_address_leave_the_owner_free_at_another(
    app: FastAPI, make_user: MakeUser
) -> None:
    """Counted per (username, address), as logins are: a thief with a stolen access token
    guessing the password does not stop the owner changing it from elsewhere."""
    user = make_user()
    wrong = {"current_password": "not my password", "new_password": NEW_PASSWORD}
    right = {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    # One test client at a time: two running at once share the app's engine across loops.
    with TestClient(app, client=("203.0.113.7", 50000)) as thief:
        stolen = bearer(login(thief, user.username)["access_token"])
        guesses = [thief.post("/account/password", json=wrong, headers=stolen) for _ in range(6)]
    assert [g.status_code for g in guesses] == [400] * 5 + [429]
    with TestClient(app, client=("198.51.100.20", 50000)) as owner:
        mine = bearer(login(owner, user.username)["access_token"])
        assert owner.post("/account/password", json=right, headers=mine).status_code == 204


@pytest.mark.parametrize(
    ("new_password", "field"),
    [("short", "new_password"), ("x" * 1025, "new_password"), ("nul\x00inside!", "new_password")],
)
def test_a_weak_or_overlong_new_password_is_422_naming_the_field(
    client: TestClient, make_user: MakeUser, new_password: str, field: str
) -> None:
    user = make_user()
    tokens = login(client, user.username)
    response = client.post(
        "/account/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": new_password},
        headers=bearer(tokens["access_token"]),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field
    login(client, user.username)  # unchanged


def test_session_list_shows_live_sessions_newest_first_and_marks_the_current_one(
    client: TestClient, make_user: MakeUser
) -> None:
    user = make_user()
    first = client.post(
        "/token",
        data={"username": user.username, "password": DEFAULT_PASSWORD},
        headers={"User-Agent": "Firefox/128.0"},
    ).json()
    second = login(client, user.username)
    ended = login(client, user.username)
    client.post("/token/revoke", data={"token": ended["refresh_token"]})
    login(client, make_user().username)  # someone else's session
    response = client.get("/account/sessions", headers=bearer(first["access_token"]))
    assert response.status_code == 200
    sessions = response.json()
    assert [s["id"] for s in sessions] == [sid_of(second), sid_of(first)]
    assert [s["current"] for s in sessions] == [False, True]
    assert sessions[1]["user_agent"] == "Firefox/128.0"
    assert set(sessions[0]) == {
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "client_ip",
        "user_agent",
        "amr",
        "current",
    }
    assert sessions[0]["amr"] == ["pwd"]


def test_the_session_list_shows_the_address_the_login_came_from(
    app: FastAPI, make_user: MakeUser
) -> None:
    with TestClient(app, client=("203.0.113.9", 4242)) as remote:
        tokens = login(remote, make_user().username)
        [session] = remote.get("/account/sessions", headers=bearer(tokens["access_token"])).json()
    assert session["client_ip"] == "203.0.113.9"


def test_a_login_that_sends_no_user_agent_is_listed_without_one(
    client: TestClient, make_user: MakeUser
) -> None:
    del client.headers["user-agent"]
    tokens = login(client, make_user().username)
    [session] = client.get("/account/sessions", headers=bearer(tokens["access_token"])).json()
    assert session["user_agent"] is None


def test_a_new_session_is_listed_as_created_and_last_used_at_its_login_instant(
    client: TestClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = (utcnow() - timedelta(seconds=30)).replace(microsecond=0)
    monkeypatch.setattr(sessions_service, "utcnow", lambda: started)
    tokens = login(client, make_user().username)
    [session] = client.get("/account/sessions", headers=bearer(tokens["access_token"])).json()
    listed_times = (session["created_at"], session["last_used_at"])
    assert tuple(map(datetime.fromisoformat, listed_times)) == (started, started)


def test_ending_one_of_ones_sessions(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user()
    mine, other = login(client, user.username), login(client, user.username)
    response = client.delete(
        f"/account/sessions/{sid_of(other)}", headers=bearer(mine["access_token"])
    )
    assert response.status_code == 204
    assert eventually(lambda: refused(client, other))
    assert works(client, mine)
    again = client.delete(
        f"/account/sessions/{sid_of(other)}", headers=bearer(mine["access_token"])
    )
    assert again.status_code == 404
    assert "session.ended" in audit_actions(db_engine)


def test_someone_elses_session_is_404_and_stays(client: TestClient, make_user: MakeUser) -> None:
    mine = login(client, make_user().username)
    theirs = login(client, make_user().username)
    response = client.delete(
        f"/account/sessions/{sid_of(theirs)}", headers=bearer(mine["access_token"])
    )
    assert response.status_code == 404
    assert works(client, theirs)
    unknown = client.delete("/account/sessions/nope", headers=bearer(mine["access_token"]))
    assert unknown.status_code == 404


def test_ending_every_other_session(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    mine, *others = (login(client, user.username) for _ in range(3))
    bystander = login(client, make_user().username)
    response = client.delete("/account/sessions", headers=bearer(mine["access_token"]))
    assert response.status_code == 204
    assert eventually(lambda: all(refused(client, t) for t in others))
    assert works(client, mine)
    assert works(client, bystander)
    left = client.get("/account/sessions", headers=bearer(mine["access_token"])).json()
    assert [s["id"] for s in left] == [sid_of(mine)]
    [event] = audited(client, make_user, "sessions.ended")
    assert (event["actor_id"], event["target"], event["detail"]) == (
        user.id,
        user.username,
        {"cause": "ended_by_user", "sessions_ended": 2},
    )


def test_an_administrator_lists_and_ends_a_users_sessions(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    admin = login(client, make_user(roles=["admin"]).username)
    user = make_user()
    sessions = [login(client, user.username) for _ in range(2)]
    listed = client.get(f"/users/{user.id}/sessions", headers=bearer(admin["access_token"]))
    assert listed.status_code == 200
    assert {s["id"] for s in listed.json()} == {sid_of(t) for t in sessions}
    assert not any(s["current"] for s in listed.json())
    ended = client.delete(f"/users/{user.id}/sessions", headers=bearer(admin["access_token"]))
    assert ended.status_code == 204
    assert eventually(lambda: all(refused(client, t) for t in sessions))
    assert works(client, admin)
    assert "sessions.ended" in audit_actions(db_engine)


def test_users_sessions_routes_are_for_administrators(
    client: TestClient, make_user: MakeUser, documented_statuses: DocumentedStatuses
) -> None:
    user = make_user()
    tokens = login(client, user.username)
    headers = bearer(tokens["access_token"])
    assert client.get(f"/users/{user.id}/sessions", headers=headers).status_code == 403
    assert client.delete(f"/users/{user.id}/sessions", headers=headers).status_code == 403
    assert works(client, tokens)
    admin = bearer(login(client, make_user(roles=["admin"]).username)["access_token"])
    assert client.get("/users/999999/sessions", headers=admin).status_code == 404
    assert client.delete("/users/999999/sessions", headers=admin).status_code == 404
    for method in ("GET", "DELETE"):
        assert 404 in (documented_statuses(method, "/users/{user_id}/sessions") or set())
    assert client.get("/users/0/sessions", headers=admin).status_code == 422


def set_session(engine: Engine, tokens: dict[str, str], **values: object) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(LoginSession).where(LoginSession.sid == sid_of(tokens)).values(**values)
        )


def listed(client: TestClient, tokens: dict[str, str]) -> list[str]:
    response = client.get("/account/sessions", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200, response.text
    return [session["id"] for session in response.json()]


def test_an_expired_session_is_not_listed(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user()
    current, expired = login(client, user.username), login(client, user.username)
    set_session(db_engine, expired, expires_at=utcnow() - timedelta(seconds=1))

    assert listed(client, current) == [sid_of(current)]


def test_sessions_are_listed_by_login_time_not_by_row_order(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """A session row written later can hold an earlier login (a migrated session)."""
    user = make_user()
    first, second = login(client, user.username), login(client, user.username)
    set_session(db_engine, second, created_at=utcnow() - timedelta(days=1))

    assert listed(client, first) == [sid_of(first), sid_of(second)]


def test_sessions_logged_in_at_the_same_instant_are_listed_newest_row_first(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user()
    first, second = login(client, user.username), login(client, user.username)
    instant = utcnow() - timedelta(minutes=1)
    for tokens in (first, second):
        set_session(db_engine, tokens, created_at=instant)

    assert listed(client, first) == [sid_of(second), sid_of(first)]


def test_a_session_is_over_at_its_expiry_instant(
    client: TestClient, make_user: MakeUser, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user()
    current, expiring = login(client, user.username), login(client, user.username)
    instant = utcnow() + timedelta(minutes=5)
    set_session(db_engine, expiring, expires_at=instant)
    monkeypatch.setattr(session_store, "utcnow", lambda: instant)

    assert listed(client, current) == [sid_of(current)]
