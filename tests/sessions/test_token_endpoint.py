"""`POST /token` and `POST /token/revoke` through HTTP, as an OAuth2 client sees them."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import bcrypt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import OperationalError

from notes_api.auth.tokens import hash_refresh_token
from notes_api.clock import utcnow
from notes_api.sessions import service as sessions_service
from notes_api.sessions.models import RefreshToken
from notes_api.sessions.session_model import LoginSession
from notes_api.users.models import User
from tests.conftest import DEFAULT_PASSWORD, Headers, MakeUser, bearer, login
from tests.databases import POSTGRES_URL
from tests.sessions.waiting import eventually, requests_waiting_on_a_lock


def refresh(client: TestClient, refresh_token: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


def assert_oauth_error(response, error: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert response.headers["cache-control"] == "no-store"


def test_login_returns_an_rfc6749_token_response(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    response = client.post(
        "/token",
        data={"grant_type": "password", "username": user.username, "password": DEFAULT_PASSWORD},
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


def test_grant_type_may_be_omitted(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    response = client.post("/token", data={"username": user.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200


def test_username_is_case_insensitive(client: TestClient, make_user: MakeUser) -> None:
    make_user("alice")
    response = client.post("/token", data={"username": "Alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == 200


def test_client_basic_authentication_header_is_accepted(
    client: TestClient, make_user: MakeUser
) -> None:
    user = make_user()
    basic = base64.b64encode(b"notes-web:").decode()
    response = client.post(
        "/token",
        data={"grant_type": "password", "username": user.username, "password": DEFAULT_PASSWORD},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200


def test_wrong_password_is_invalid_grant(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    response = client.post("/token", data={"username": user.username, "password": "wrong-pass"})
    assert_oauth_error(response, "invalid_grant")


def test_unknown_user_answers_exactly_like_a_wrong_password(
    client: TestClient, make_user: MakeUser
) -> None:
    user = make_user()
    wrong_password = client.post("/token", data={"username": user.username, "password": "nope1234"})
    unknown_user = client.post("/token", data={"username": "nobody", "password": "nope1234"})
    assert unknown_user.status_code == wrong_password.status_code
    assert unknown_user.content == wrong_password.content
    assert unknown_user.headers["cache-control"] == wrong_password.headers["cache-control"]


def test_unknown_user_still_costs_one_password_verification(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notes_api.sessions import service

    calls: list[str] = []
    monkeypatch.setattr(service, "burn_verification", lambda password: calls.append(password))
    client.post("/token", data={"username": "nobody", "password": "whatever1"})
    assert calls == ["whatever1"]


def test_disabled_user_is_invalid_grant(client: TestClient, make_user: MakeUser) -> None:
    user = make_user(disabled=True)
    response = client.post("/token", data={"username": user.username, "password": DEFAULT_PASSWORD})
    assert_oauth_error(response, "invalid_grant")


@pytest.mark.parametrize(
    "form",
    [{}, {"username": "alice"}, {"password": "secret123"}, {"grant_type": "refresh_token"}],
)
def test_missing_parameters_are_invalid_request(client: TestClient, form: dict[str, str]) -> None:
    assert_oauth_error(client.post("/token", data=form), "invalid_request")


def test_json_body_is_invalid_request(client: TestClient) -> None:
    response = client.post("/token", json={"username": "a", "password": "b"})
    assert_oauth_error(response, "invalid_request")


@pytest.mark.parametrize("grant", ["client_credentials", "authorization_code", "PASSWORD"])
def test_other_grant_types_are_unsupported(client: TestClient, grant: str) -> None:
    response = client.post("/token", data={"grant_type": grant, "username": "a", "password": "b"})
    assert_oauth_error(response, "unsupported_grant_type")


@pytest.mark.parametrize("username", ["nul\x00name", "x" * 300, "ünïcode", "a b"])
def test_odd_usernames_are_invalid_grant_never_500(client: TestClient, username: str) -> None:
    response = client.post("/token", data={"username": username, "password": "whatever1"})
    assert_oauth_error(response, "invalid_grant")


def test_long_password_against_a_bcrypt_hash_is_invalid_grant(
    client: TestClient, make_user: MakeUser
) -> None:
    legacy = bcrypt.hashpw(b"legacy password", bcrypt.gensalt(rounds=4)).decode()
    user = make_user(hashed_password=legacy)
    response = client.post("/token", data={"username": user.username, "password": "p" * 200})
    assert_oauth_error(response, "invalid_grant")


def test_bcrypt_hash_is_upgraded_to_argon2_on_login(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    legacy = bcrypt.hashpw(b"legacy password", bcrypt.gensalt(rounds=4)).decode()
    user = make_user(hashed_password=legacy)
    login(client, user.username, "legacy password")
    with db_engine.connect() as connection:
        stored = connection.scalar(select(User.hashed_password).where(User.id == user.id))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    login(client, user.username, "legacy password")


def test_refresh_token_is_stored_only_as_its_hash(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    tokens = login(client, make_user().username)
    with db_engine.connect() as connection:
        stored = list(connection.scalars(select(RefreshToken.token_hash)))
    assert stored == [hash_refresh_token(tokens["refresh_token"])]


def test_refresh_returns_a_new_pair_and_the_old_token_dies(
    client: TestClient, make_user: MakeUser
) -> None:
    first = login(client, make_user().username)
    response = refresh(client, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert response.headers["cache-control"] == "no-store"
    assert client.get("/identify/me", headers=bearer(second["access_token"])).status_code == 200
    assert_oauth_error(refresh(client, first["refresh_token"]), "invalid_grant")


def test_reusing_a_rotated_token_revokes_the_whole_family(
    client: TestClient, make_user: MakeUser
) -> None:
    first = login(client, make_user().username)
    second = refresh(client, first["refresh_token"]).json()
    assert_oauth_error(refresh(client, first["refresh_token"]), "invalid_grant")
    assert_oauth_error(refresh(client, second["refresh_token"]), "invalid_grant")


def test_reuse_revokes_only_that_login(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    stolen, other_device = login(client, user.username), login(client, user.username)
    refresh(client, stolen["refresh_token"])
    refresh(client, stolen["refresh_token"])
    assert refresh(client, other_device["refresh_token"]).status_code == 200


def test_expired_refresh_token_is_invalid_grant(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    tokens = login(client, make_user().username)
    with db_engine.begin() as connection:
        connection.execute(update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_oauth_error(refresh(client, tokens["refresh_token"]), "invalid_grant")


def test_refresh_in_an_expired_session_is_invalid_grant(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """The refresh token itself has not expired: the session's lifetime is what ends it."""
    tokens = login(client, make_user().username)
    with db_engine.begin() as connection:
        connection.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_oauth_error(refresh(client, tokens["refresh_token"]), "invalid_grant")


def test_a_session_cannot_be_refreshed_at_its_expiry_instant(
    client: TestClient, make_user: MakeUser, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = login(client, make_user().username)
    instant = utcnow() + timedelta(minutes=5)
    with db_engine.begin() as connection:
        connection.execute(update(LoginSession).values(expires_at=instant))
        connection.execute(update(RefreshToken).values(expires_at=instant + timedelta(days=1)))
    monkeypatch.setattr(sessions_service, "utcnow", lambda: instant)

    assert_oauth_error(refresh(client, tokens["refresh_token"]), "invalid_grant")


def test_a_refresh_token_cannot_be_spent_at_its_expiry_instant(
    client: TestClient, make_user: MakeUser, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = login(client, make_user().username)
    instant = utcnow() + timedelta(minutes=5)
    with db_engine.begin() as connection:
        connection.execute(update(RefreshToken).values(expires_at=instant))
    monkeypatch.setattr(sessions_service, "utcnow", lambda: instant)

    assert_oauth_error(refresh(client, tokens["refresh_token"]), "invalid_grant")


def test_a_refresh_token_revoked_in_plain_sql_is_invalid_grant(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """Its session is still live: `revoked_at` alone must stop it."""
    tokens = login(client, make_user().username)
    with db_engine.begin() as connection:
        connection.execute(update(RefreshToken).values(revoked_at=utcnow()))
    assert_oauth_error(refresh(client, tokens["refresh_token"]), "invalid_grant")


def test_an_expired_refresh_token_is_not_taken_for_reuse(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """Its session holds a token spent before it: presenting the expired one is a
    refusal, not a theft, and the session (its access token) lives on."""
    tokens = refresh(client, login(client, make_user().username)["refresh_token"]).json()
    current = hash_refresh_token(tokens["refresh_token"])
    with db_engine.begin() as connection:
        connection.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == current)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert_oauth_error(refresh(client, tokens["refresh_token"]), "invalid_grant")
    with db_engine.connect() as connection:
        assert connection.scalar(select(LoginSession.end_cause)) is None
    assert client.get("/identify/me", headers=bearer(tokens["access_token"])).status_code == 200


def test_rotation_never_outlives_the_session_lifetime(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    tokens = login(client, make_user().username)
    soon = utcnow() + timedelta(minutes=1)
    with db_engine.begin() as connection:
        connection.execute(update(LoginSession).values(expires_at=soon))
    refresh(client, tokens["refresh_token"])
    with db_engine.connect() as connection:
        newest = connection.execute(
            select(RefreshToken.expires_at).order_by(RefreshToken.id.desc()).limit(1)
        ).scalar_one()
    assert newest.replace(tzinfo=None) <= soon.replace(tzinfo=None)


def test_unknown_refresh_token_is_invalid_grant(client: TestClient) -> None:
    assert_oauth_error(refresh(client, "not-a-token"), "invalid_grant")


def multipart_declaring_unicode_escape(fields: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """A form whose declared charset turns the text `\\ud800` into an unpaired surrogate:
    Starlette decodes multipart values with the charset the client names."""
    parts = b"".join(
        b'--b\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
        % (name.encode(), value.encode())
        for name, value in fields.items()
    )
    content_type = "multipart/form-data; boundary=b; charset=unicode_escape"
    return parts + b"--b--\r\n", {"Content-Type": content_type}


def test_a_refresh_token_with_an_unpaired_surrogate_is_invalid_grant(lenient: TestClient) -> None:
    content, headers = multipart_declaring_unicode_escape(
        {"grant_type": "refresh_token", "refresh_token": "\\ud800" + "a" * 42}
    )
    assert_oauth_error(lenient.post("/token", content=content, headers=headers), "invalid_grant")


def test_refresh_carries_roles_changed_in_plain_sql(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user(roles=["user"])
    tokens = login(client, user.username)
    with db_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO user_roles (user_id, role_id) "
                "SELECT :uid, id FROM roles WHERE name = 'admin'"
            ),
            {"uid": user.id},
        )
    renewed = refresh(client, tokens["refresh_token"]).json()
    me = client.get("/identify/me", headers=bearer(renewed["access_token"])).json()
    assert me["roles"] == ["admin", "user"]


def test_refresh_of_a_disabled_user_is_invalid_grant(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user()
    tokens = login(client, user.username)
    with db_engine.begin() as connection:
        connection.execute(update(User).where(User.id == user.id).values(disabled=True))
    assert_oauth_error(refresh(client, tokens["refresh_token"]), "invalid_grant")


def test_a_refresh_by_a_disabled_user_ends_the_session(
    client: TestClient, make_user: MakeUser, db_engine: Engine, auth_headers: Headers
) -> None:
    """Disabled in plain SQL, which ends no session: the refused refresh ends it."""
    user = make_user()
    tokens = login(client, user.username)
    with db_engine.begin() as connection:
        connection.execute(update(User).where(User.id == user.id).values(disabled=True))
    assert_oauth_error(refresh(client, tokens["refresh_token"]), "invalid_grant")
    listed = client.get(f"/users/{user.id}/sessions", headers=auth_headers(roles=["admin"]))
    assert listed.status_code == 200
    assert listed.json() == []


def test_sixteen_concurrent_refreshes_with_one_token_let_exactly_one_through(
    client: TestClient, make_user: MakeUser
) -> None:
    tokens = login(client, make_user().username)
    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(lambda _: refresh(client, tokens["refresh_token"]), range(16)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [400] * 15
    assert all(r.json()["error"] == "invalid_grant" for r in responses if r.status_code == 400)


@pytest.mark.skipif(POSTGRES_URL is None, reason="needs TEST_DATABASE_URL")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_token_spent_by_a_concurrent_rotation_is_reuse_too(
    app: FastAPI, make_user: MakeUser, db_engine: Engine
) -> None:
    """A rotation that read the token unspent finds it spent when it comes to spend it:
    another request with the same token won the race. The session ends, audited like any
    replay. Made deterministic: the other rotation holds the session row it claimed, with
    the token spent, until this one waits for it (PostgreSQL: SQLite serializes them)."""
    user, admin_user = make_user(), make_user(roles=["admin"])
    with (
        TestClient(app, client=("198.51.100.7", 4242)) as thief,
        ThreadPoolExecutor(max_workers=1) as pool,
        db_engine.connect() as other,
    ):
        tokens = login(thief, user.username)
        other.execute(update(LoginSession).values(last_used_at=utcnow()))
        other.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_refresh_token(tokens["refresh_token"]))
            .values(used_at=utcnow())
        )
        rotation = pool.submit(refresh, thief, tokens["refresh_token"])
        assert eventually(lambda: requests_waiting_on_a_lock(db_engine) > 0)
        other.commit()
        assert_oauth_error(rotation.result(timeout=30), "invalid_grant")
        admin = bearer(login(thief, admin_user.username)["access_token"])
        assert thief.get(f"/users/{user.id}/sessions", headers=admin).json() == []
        audit = thief.get("/audit", headers=admin).json()["items"]
    with db_engine.connect() as connection:
        family = connection.scalar(
            select(RefreshToken.family_id).where(RefreshToken.user_id == user.id).distinct()
        )
    reused = [e for e in audit if e["action"] == "refresh.reused"]
    assert [(e["actor_id"], e["target"], e["client_ip"]) for e in reused] == [
        (user.id, family, "198.51.100.7")
    ]


def test_revoke_ends_the_login(client: TestClient, make_user: MakeUser) -> None:
    first = login(client, make_user().username)
    second = refresh(client, first["refresh_token"]).json()
    response = client.post("/token/revoke", data={"token": first["refresh_token"]})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert_oauth_error(refresh(client, second["refresh_token"]), "invalid_grant")


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
def test_revoking_an_unknown_token_is_still_200(client: TestClient, hint: str | None) -> None:
    form = {"token": "unknown"} | ({"token_type_hint": hint} if hint else {})
    assert client.post("/token/revoke", data=form).status_code == 200


def test_revoking_a_token_with_an_unpaired_surrogate_is_still_200(lenient: TestClient) -> None:
    content, headers = multipart_declaring_unicode_escape({"token": "\\ud800" + "a" * 42})
    assert lenient.post("/token/revoke", content=content, headers=headers).status_code == 200


@pytest.mark.parametrize("form", [{}, {"token": ""}, {"token_type_hint": "refresh_token"}])
def test_revoke_without_a_token_is_invalid_request_naming_it(
    client: TestClient, form: dict[str, str]
) -> None:
    response = client.post("/token/revoke", data=form)
    assert_oauth_error(response, "invalid_request")
    assert response.json()["error_description"] == "token is required"


def test_no_transaction_is_open_while_the_password_is_hashed(
    client: TestClient, make_user: MakeUser, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A login holds no database lock or transaction during the ~30 ms hash."""
    from notes_api.sessions import service

    user = make_user()
    observed: list[bool] = []
    real_verify = service.verify_password

    def verify_and_observe(password: str, hashed: str) -> tuple[bool, str | None]:
        observed.append(_database_is_idle(db_engine))
        return real_verify(password, hashed)

    monkeypatch.setattr(service, "verify_password", verify_and_observe)
    login(client, user.username)
    assert observed == [True]


changes_while_hashing = pytest.mark.parametrize(
    "change",
    [{"hashed_password": "a hash set by a password change"}, {"disabled": True}],
    ids=["password changed", "user disabled"],
)


def change_user_while_hashing(
    monkeypatch: pytest.MonkeyPatch, db_engine: Engine, user_id: int, change: dict[str, object]
) -> None:
    """Each password check, once done, applies `change` to the user in a transaction of its
    own: what an administrator or the user's password change commits meanwhile."""
    real_verify = sessions_service.verify_password

    def verify_then_change(password: str, hashed: str) -> tuple[bool, str | None]:
        verdict = real_verify(password, hashed)
        with db_engine.begin() as connection:
            connection.execute(update(User).where(User.id == user_id).values(**change))
        return verdict

    monkeypatch.setattr(sessions_service, "verify_password", verify_then_change)


@changes_while_hashing
def test_a_login_whose_user_changes_while_the_password_is_hashed_is_refused(
    client: TestClient,
    make_user: MakeUser,
    db_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, object],
) -> None:
    """The hash is checked outside any transaction; the session opens only if the user,
    read again under a lock, is still enabled and still has the hash that was checked."""
    user = make_user()
    change_user_while_hashing(monkeypatch, db_engine, user.id, change)
    answer = client.post("/token", data={"username": user.username, "password": DEFAULT_PASSWORD})

    assert_oauth_error(answer, "invalid_grant")
    with db_engine.connect() as connection:
        assert connection.scalar(select(LoginSession.id)) is None


@changes_while_hashing
def test_a_hash_due_for_an_upgrade_is_kept_when_the_user_changes_while_it_is_checked(
    client: TestClient,
    make_user: MakeUser,
    db_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, object],
) -> None:
    """The upgraded hash is written under the user's lock, after the checked hash is found
    current: a login refused there writes no upgrade over a new password or a disabled user."""
    legacy = bcrypt.hashpw(b"legacy password", bcrypt.gensalt(rounds=4)).decode()
    user = make_user(hashed_password=legacy)
    change_user_while_hashing(monkeypatch, db_engine, user.id, change)
    answer = client.post("/token", data={"username": user.username, "password": "legacy password"})

    assert_oauth_error(answer, "invalid_grant")
    with db_engine.connect() as connection:
        stored = connection.scalar(select(User.hashed_password).where(User.id == user.id))
    assert stored == change.get("hashed_password", legacy)


def _database_is_idle(engine: Engine) -> bool:
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA busy_timeout=0")
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except OperationalError:
                return False
            connection.exec_driver_sql("ROLLBACK")
            return True
        open_transactions = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%'"
            )
        ).scalar()
        return open_transactions == 0


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (
            b'--x\r\nContent-Disposition: form-data; name="username"; filename="f.txt"\r\n\r\n'
            b'abc\r\n--x\r\nContent-Disposition: form-data; name="password"\r\n\r\npw\r\n--x--\r\n',
            "multipart/form-data; boundary=x",
        ),
        (b"garbage", "multipart/form-data"),
    ],
    ids=["file-upload", "no-boundary"],
)
def test_malformed_token_requests_answer_in_rfc6749_format(
    lenient: TestClient, content: bytes, content_type: str
) -> None:
    response = lenient.post("/token", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.headers["cache-control"] == "no-store"
    assert "_file" not in response.text


def test_a_forged_forwarded_address_is_not_stored(
    app: FastAPI, make_user: MakeUser, auth_headers: Headers, db_engine: Engine
) -> None:
    user = make_user()
    with TestClient(app, client=("z" * 80, 1)) as odd_client:
        response = odd_client.post(
            "/token", data={"username": user.username, "password": "nope1234"}
        )
    assert response.status_code == 400
    with db_engine.connect() as connection:
        stored = [
            str(value)
            for table in ("audit_events", "login_attempts")
            for row in connection.execute(text(f"SELECT * FROM {table}"))
            for value in row
        ]
    assert stored, "the failed login left no audit event or attempt row to check"
    assert not any("zzz" in value for value in stored)
