"""Sessions as rows: what a login, a refresh, a logout, a reuse and a disable do to them."""

from __future__ import annotations

import base64
from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select, text, update

from notes_api.audit.models import AuditEvent
from notes_api.clock import as_utc, utcnow
from notes_api.main import create_app
from notes_api.sessions import service as sessions_service
from notes_api.sessions.models import RefreshToken
from notes_api.sessions.session_model import LoginSession
from notes_api.users.models import Role, User
from tests.conftest import MakeUser, bearer, login, make_settings, refresh


def claims(access_token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(access_token, options={"verify_signature": False})
    return decoded


def session_row(engine: Engine, sid: object) -> LoginSession:
    with engine.connect() as connection:
        row = connection.execute(select(LoginSession).where(LoginSession.sid == sid)).one()
    return LoginSession(**row._asdict())


def test_access_token_carries_its_session_id_and_password_method(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user()
    payload = claims(login(client, user.username)["access_token"])
    assert payload["amr"] == ["pwd"]
    assert session_row(db_engine, payload["sid"]).user_id == user.id


def test_each_login_is_its_own_session(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    first = claims(login(client, user.username)["access_token"])
    second = claims(login(client, user.username)["access_token"])
    assert first["sid"] != second["sid"]


def test_a_session_id_is_128_random_bits(client: TestClient, make_user: MakeUser) -> None:
    """22 URL-safe characters: `sessions.sid` holds 32."""
    sid = claims(login(client, make_user().username)["access_token"])["sid"]
    assert isinstance(sid, str)
    assert len(base64.urlsafe_b64decode(sid + "=" * (-len(sid) % 4))) == 16


def test_refresh_keeps_the_session_and_its_methods(client: TestClient, make_user: MakeUser) -> None:
    tokens = login(client, make_user().username)
    renewed = refresh(client, tokens["refresh_token"])
    before, after = claims(tokens["access_token"]), claims(renewed["access_token"])
    assert (after["sid"], after["amr"]) == (before["sid"], before["amr"])


def test_session_records_the_client_address_and_user_agent(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user()
    response = client.post(
        "/token",
        data={"username": user.username, "password": "correct horse battery staple"},
        headers={"User-Agent": "notes-cli/1.0 " + "x" * 400},
    )
    row = session_row(db_engine, claims(response.json()["access_token"])["sid"])
    assert row.client_ip == "testclient" or row.client_ip is None
    assert row.user_agent is not None
    assert row.user_agent.startswith("notes-cli/1.0")
    assert len(row.user_agent) == 256


def test_logout_ends_the_session(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    tokens = login(client, make_user().username)
    client.post("/token/revoke", data={"token": tokens["refresh_token"]})
    row = session_row(db_engine, claims(tokens["access_token"])["sid"])
    assert row.ended_at is not None
    assert row.end_cause == "logout"


def test_reuse_ends_the_session_and_is_audited_once_however_often_replayed(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    tokens = login(client, make_user().username)
    refresh(client, tokens["refresh_token"])
    for _ in range(5):
        replay = client.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        )
        assert replay.status_code == 400
    assert session_row(db_engine, claims(tokens["access_token"])["sid"]).end_cause == (
        "refresh_reuse"
    )
    with db_engine.connect() as connection:
        audited = connection.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "refresh.reused")
        ).all()
    assert len(audited) == 1


def test_disabling_a_user_ends_every_session(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    admin = make_user(roles=["admin"])
    admin_token = login(client, admin.username)["access_token"]
    user = make_user()
    sids = [claims(login(client, user.username)["access_token"])["sid"] for _ in range(2)]
    answer = client.patch(f"/users/{user.id}", json={"disabled": True}, headers=bearer(admin_token))
    assert answer.status_code == 200
    assert {session_row(db_engine, sid).end_cause for sid in sids} == {"user_disabled"}


def _cut_off(engine: Engine, user_id: int) -> object:
    with engine.connect() as connection:
        return connection.scalar(select(User.tokens_valid_after).where(User.id == user_id))


def test_deleting_a_role_row_in_plain_sql_sets_the_users_cut_off(
    make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user(roles=["user", "admin"])
    assert _cut_off(db_engine, user.id) is None
    with db_engine.begin() as connection:
        connection.execute(
            text(
                "DELETE FROM user_roles WHERE user_id = :id"
                " AND role_id = (SELECT id FROM roles WHERE name = 'admin')"
            ),
            {"id": user.id},
        )
    assert _cut_off(db_engine, user.id) is not None


def test_disabling_a_user_in_plain_sql_sets_the_users_cut_off(
    make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user()
    with db_engine.begin() as connection:
        connection.execute(text("UPDATE users SET disabled = true WHERE id = :id"), {"id": user.id})
    assert _cut_off(db_engine, user.id) is not None


def test_granting_a_role_sets_no_cut_off(make_user: MakeUser, db_engine: Engine) -> None:
    user = make_user(roles=[])
    with db_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO user_roles (user_id, role_id)"
                " SELECT :id, id FROM roles WHERE name = 'user'"
            ),
            {"id": user.id},
        )
    assert _cut_off(db_engine, user.id) is None


def test_deleting_a_user_with_roles_and_sessions_still_works_in_plain_sql(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """The role-row trigger fires for the cascade too, on a user row being deleted."""
    user = make_user(roles=["user", "admin"])
    login(client, user.username)
    with db_engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": user.id})
    with db_engine.connect() as connection:
        left = connection.scalar(select(LoginSession.id).where(LoginSession.user_id == user.id))
    assert left is None


def test_an_access_token_expires_with_its_session_if_that_comes_first(
    make_user: MakeUser, database_url: str
) -> None:
    """A session that ends by expiry leaves no access token working past its end."""
    settings = make_settings(
        database_url, access_token_expire_minutes=15, refresh_family_lifetime_minutes=1
    )
    with TestClient(create_app(settings)) as client:
        tokens = login(client, make_user().username)
    payload = claims(tokens["access_token"])
    assert isinstance(payload["exp"], int)
    assert isinstance(payload["iat"], float)
    assert payload["exp"] - payload["iat"] <= 60
    assert int(tokens["expires_in"]) <= 60


def test_an_access_token_from_a_refresh_expires_with_its_session_if_that_comes_first(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """As at login: a rotation near the session's end hands out no access token that
    works past that end, and says so in `expires_in`."""
    tokens = login(client, make_user().username)
    session_ends = utcnow() + timedelta(minutes=1)
    with db_engine.begin() as connection:
        connection.execute(update(LoginSession).values(expires_at=session_ends))
    refreshed = refresh(client, tokens["refresh_token"])
    exp = claims(refreshed["access_token"])["exp"]
    assert isinstance(exp, int)
    assert exp <= session_ends.timestamp()
    assert int(refreshed["expires_in"]) <= 60


def test_a_login_opens_its_session_and_issues_its_tokens_at_the_instant_it_started(
    client: TestClient, make_user: MakeUser, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`iat` is the time taken before the roles were read, so that a role revoked while
    the login ran is newer than the token (the revocation cut-off refuses it); the session
    and the refresh token's row record the same instant."""
    started = (utcnow() - timedelta(seconds=30)).replace(microsecond=123_000)
    monkeypatch.setattr(sessions_service, "utcnow", lambda: started)

    tokens = login(client, make_user().username)

    assert claims(tokens["access_token"])["iat"] == started.timestamp()
    with db_engine.connect() as connection:
        assert as_utc(connection.scalar(select(RefreshToken.issued_at))) == started
        assert as_utc(connection.scalar(select(LoginSession.created_at))) == started


def test_the_roles_claim_lists_the_roles_in_name_order(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """Whatever order they were created and granted in: the same roles, the same claim."""
    with db_engine.begin() as connection:
        connection.execute(insert(Role), [{"name": "zulu"}, {"name": "alpha"}])
    user = make_user(roles=["zulu", "user", "alpha"])

    assert claims(login(client, user.username)["access_token"])["roles"] == "alpha,user,zulu"
