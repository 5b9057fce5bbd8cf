"""MFA_REQUIRED_ROLES: a listed role counts only for a login completed with a second factor."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from notes_api.config import Settings
from notes_api.users.admin_actor import current_admin
from tests.conftest import MakeUser, bearer, login, make_settings
from tests.mfa.conftest import MakeEnrolled, code, otp_grant, password_step, recovery_grant
from tests.route_walk import api_routes, dependency_calls


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, mfa_required_roles=["admin"])


def mfa_login(client: TestClient, username: str, secret: str) -> dict[str, str]:
    response = otp_grant(client, password_step(client, username), code(secret, 1))
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


def test_password_only_admin_gets_401_insufficient_user_authentication(
    client: TestClient, make_user: MakeUser
) -> None:
    admin = make_user(roles=["admin"])
    response = client.get("/users", headers=bearer(login(client, admin.username)["access_token"]))
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="insufficient_user_authentication", ')
    assert 'error_description="The role admin requires a second factor' in challenge


def test_every_rechecked_administrative_write_asks_a_password_only_admin_for_the_second_factor(
    app: FastAPI, client: TestClient, make_user: MakeUser
) -> None:
    """The database re-check of administrative writes runs before the route's own role check
    (FastAPI resolves it first); it must answer as that check would: 401 with RFC 9470's
    challenge, not 403, for an `admin` withheld until a second factor."""
    rechecked = [
        (method, path)
        for path, route in api_routes(app)
        if current_admin in dependency_calls(route.dependant)
        for method in route.methods
    ]
    assert len(rechecked) >= 6  # users, roles, user roles, sessions, second factor
    admin = make_user(roles=["admin"])
    headers = bearer(login(client, admin.username)["access_token"])
    for method, path in rechecked:
        response = client.request(method, re.sub(r"\{[^}]+\}", "1", path), headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer error="insufficient_user_authentication", '), path


def test_admin_with_a_second_factor_passes(client: TestClient, make_enrolled: MakeEnrolled) -> None:
    admin = make_enrolled(roles=["admin"])
    tokens = mfa_login(client, admin.username, admin.secret)
    assert client.get("/users", headers=bearer(tokens["access_token"])).status_code == 200


def test_account_routes_stay_reachable_with_the_password_alone(
    client: TestClient, make_user: MakeUser
) -> None:
    """An administrator who must use a second factor can enroll one."""
    admin = make_user(roles=["admin"])
    headers = bearer(login(client, admin.username)["access_token"])
    assert client.post("/account/mfa/totp", headers=headers).status_code == 201
    assert client.get("/identify/me", headers=headers).json()["roles"] == ["admin"]


def test_a_caller_without_the_role_still_gets_403(client: TestClient, make_user: MakeUser) -> None:
    user = make_user(roles=["user"])
    response = client.get("/users", headers=bearer(login(client, user.username)["access_token"]))
    assert response.status_code == 403


def test_other_roles_of_the_same_token_still_count(client: TestClient, make_user: MakeUser) -> None:
    """A password-only admin who is also a `user` keeps their notes, but no administrator
    powers inside a route either (`?owner=all`)."""
    person = make_user(roles=["user", "admin"])
    headers = bearer(login(client, person.username)["access_token"])
    assert client.get("/notes", headers=headers).status_code == 200
    everyone = client.get("/notes", headers=headers, params={"owner": "all"})
    assert everyone.status_code == 401
    assert "insufficient_user_authentication" in everyone.headers["www-authenticate"]


def test_a_role_outside_the_list_needs_no_second_factor(
    database_url: str, make_user: MakeUser
) -> None:
    from notes_api.main import create_app

    app = create_app(make_settings(database_url, mfa_required_roles=["metrics"]))
    with TestClient(app) as client:
        admin = make_user(roles=["admin"])
        headers = bearer(login(client, admin.username)["access_token"])
        assert client.get("/users", headers=headers).status_code == 200


def test_mfa_required_roles_reads_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MFA_REQUIRED_ROLES", "admin, metrics")
    assert Settings(_env_file=None).mfa_required_roles == ["admin", "metrics"]  # type: ignore[call-arg]


def test_a_role_written_in_capitals_in_mfa_required_roles_still_needs_a_second_factor(
    database_url: str, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Role names are lower-case, so `Admin` means `admin` (it used to stop the start-up)."""
    from notes_api.main import create_app

    monkeypatch.setenv("MFA_REQUIRED_ROLES", "Admin")
    with TestClient(create_app(make_settings(database_url))) as client:
        admin = make_user(roles=["admin"])
        headers = bearer(login(client, admin.username)["access_token"])
        response = client.get("/users", headers=headers)
    assert response.status_code == 401
    assert "insufficient_user_authentication" in response.headers["www-authenticate"]


def test_tokens_of_a_second_factor_login_carry_amr_pwd_otp_across_refresh(
    client: TestClient, make_enrolled: MakeEnrolled
) -> None:
    import jwt

    admin = make_enrolled(roles=["admin"])
    tokens = mfa_login(client, admin.username, admin.secret)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "otp"]
    renewed = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    ).json()
    renewed_claims = jwt.decode(renewed["access_token"], options={"verify_signature": False})
    assert renewed_claims["amr"] == ["pwd", "otp"]
    assert renewed_claims["sid"] == claims["sid"]
    assert client.get("/users", headers=bearer(renewed["access_token"])).status_code == 200


def test_a_recovery_code_login_carries_amr_pwd_otp_and_passes_step_up(
    client: TestClient, make_enrolled: MakeEnrolled
) -> None:
    import jwt

    admin = make_enrolled(roles=["admin"])
    mfa_token = password_step(client, admin.username)
    response = recovery_grant(client, mfa_token, admin.recovery_codes[0])
    assert response.status_code == 200, response.text
    access = response.json()["access_token"]
    assert jwt.decode(access, options={"verify_signature": False})["amr"] == ["pwd", "otp"]
    assert client.get("/users", headers=bearer(access)).status_code == 200


def test_a_password_only_token_carries_amr_pwd(client: TestClient, make_user: MakeUser) -> None:
    import jwt

    tokens = login(client, make_user().username)
    assert jwt.decode(tokens["access_token"], options={"verify_signature": False})["amr"] == ["pwd"]
