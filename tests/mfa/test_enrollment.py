"""Enrolling, confirming and removing one's TOTP second factor; an administrator's reset."""

from __future__ import annotations

import logging

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from notes_api.mfa.models import RecoveryCode, TotpCredential
from notes_api.observability import LOGGERS
from tests.conftest import Headers, MakeUser, bearer, login
from tests.mfa.conftest import MakeEnrolled, code, enroll, password_step


def test_enrollment_returns_secret_uri_and_svg_qr_code(
    client: TestClient, auth_headers: Headers
) -> None:
    response = client.post("/account/mfa/totp", headers=auth_headers())
    assert response.status_code == 201
    body = response.json()
    assert len(pyotp.TOTP(body["secret"]).byte_secret()) == 20
    assert body["otpauth_uri"].startswith("otpauth://totp/notes-api:")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    assert body["qr_svg"].startswith("<svg")
    assert response.headers["cache-control"] == "no-store"


def test_pending_enrollment_does_not_change_the_login(
    client: TestClient, make_user: MakeUser
) -> None:
    user = make_user()
    client.post("/account/mfa/totp", headers=bearer(login(client, user.username)["access_token"]))
    login(client, user.username)  # still 200 with the password alone


def test_a_new_enrollment_replaces_a_pending_one(client: TestClient, auth_headers: Headers) -> None:
    headers = auth_headers()
    first = client.post("/account/mfa/totp", headers=headers).json()["secret"]
    second = client.post("/account/mfa/totp", headers=headers).json()["secret"]
    assert first != second
    refused = client.post("/account/mfa/totp/confirm", headers=headers, json={"code": code(first)})
    assert refused.status_code == 400
    accepted = client.post(
        "/account/mfa/totp/confirm", headers=headers, json={"code": code(second)}
    )
    assert accepted.status_code == 200


def test_confirmation_returns_ten_distinct_recovery_codes_stored_hashed(
    make_enrolled: MakeEnrolled, db_engine: Engine
) -> None:
    enrolled = make_enrolled()
    assert len(set(enrolled.recovery_codes)) == 10
    with db_engine.connect() as connection:
        stored = connection.scalars(
            select(RecoveryCode.code_hash).where(RecoveryCode.user_id == enrolled.user.id)
        ).all()
    assert len(stored) == 10
    assert not set(stored) & set(enrolled.recovery_codes)
    assert not any(c.replace("-", "") in h for c in enrolled.recovery_codes for h in stored)


def test_enrolling_twice_is_409(client: TestClient, make_enrolled: MakeEnrolled) -> None:
    enrolled = make_enrolled()
    assert client.post("/account/mfa/totp", headers=enrolled.headers).status_code == 409


def test_confirming_without_pending_enrollment_is_409(
    client: TestClient, auth_headers: Headers
) -> None:
    response = client.post("/account/mfa/totp/confirm", headers=auth_headers(), json={"code": "1"})
    assert response.status_code == 409


def test_confirming_an_active_second_factor_again_is_409(
    client: TestClient, make_enrolled: MakeEnrolled
) -> None:
    enrolled = make_enrolled()
    response = client.post(
        "/account/mfa/totp/confirm", headers=enrolled.headers, json={"code": code(enrolled.secret)}
    )
    assert response.status_code == 409


@pytest.mark.parametrize(
    "wrong", ["000000", "12345", "1234567", "abcdef", " ", "\uff11\uff12\uff13\uff14\uff15\uff16"]
)
def test_confirming_with_a_wrong_code_is_400_and_keeps_it_pending(
    client: TestClient, auth_headers: Headers, db_engine: Engine, wrong: str
) -> None:
    headers = auth_headers()
    secret = client.post("/account/mfa/totp", headers=headers).json()["secret"]
    if wrong == code(secret):
        wrong = "999999" if wrong != "999999" else "888888"
    response = client.post("/account/mfa/totp/confirm", headers=headers, json={"code": wrong})
    assert response.status_code == 400
    with db_engine.connect() as connection:
        confirmed = connection.scalar(select(TotpCredential.confirmed_at))
    assert confirmed is None


def test_the_secret_is_never_returned_after_enrollment(
    client: TestClient, make_enrolled: MakeEnrolled
) -> None:
    enrolled = make_enrolled()
    for path in ("/identify/me", "/openapi.json"):
        response = client.get(path, headers=enrolled.headers)
        assert enrolled.secret not in response.text


def test_the_secret_never_reaches_the_log_or_the_audit_trail(
    client: TestClient,
    make_enrolled: MakeEnrolled,
    auth_headers: Headers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every logger the application turns up with LOG_LEVEL=DEBUG; libraries stay at WARNING
    # (SQLAlchemy and aiosqlite would log statement parameters at DEBUG).
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    enrolled = make_enrolled()
    trail = client.get("/audit", headers=auth_headers(roles=["admin"]), params={"limit": 100})
    assert trail.status_code == 200
    assert "mfa.enabled" in trail.text
    for secret in (enrolled.secret, *enrolled.recovery_codes):
        assert secret not in trail.text
        assert secret not in caplog.text


def test_removing_needs_a_current_code(
    client: TestClient, make_enrolled: MakeEnrolled, forget_last_step
) -> None:  # type: ignore[no-untyped-def]
    enrolled = make_enrolled()
    wrong = client.request(
        "DELETE", "/account/mfa/totp", headers=enrolled.headers, json={"code": "000000"}
    )
    assert wrong.status_code == 400
    forget_last_step(enrolled.user.id)
    removed = client.request(
        "DELETE",
        "/account/mfa/totp",
        headers=enrolled.headers,
        json={"code": code(enrolled.secret)},
    )
    assert removed.status_code == 204
    login(client, enrolled.username)  # the password alone again


def test_removing_with_a_recovery_code(client: TestClient, make_enrolled: MakeEnrolled) -> None:
    enrolled = make_enrolled()
    removed = client.request(
        "DELETE",
        "/account/mfa/totp",
        headers=enrolled.headers,
        json={"code": enrolled.recovery_codes[3].upper()},
    )
    assert removed.status_code == 204
    login(client, enrolled.username)


def test_removing_without_a_second_factor_is_409(client: TestClient, auth_headers: Headers) -> None:
    response = client.request(
        "DELETE", "/account/mfa/totp", headers=auth_headers(), json={"code": "123456"}
    )
    assert response.status_code == 409


def test_guessing_the_removal_code_is_throttled(
    client: TestClient, make_enrolled: MakeEnrolled
) -> None:
    enrolled = make_enrolled()
    statuses = [
        client.request(
            "DELETE", "/account/mfa/totp", headers=enrolled.headers, json={"code": f"{n:06d}"}
        ).status_code
        for n in range(6)
    ]
    assert statuses[-1] == 429
    assert set(statuses[:5]) == {400} or 204 in statuses  # one of 000000..000004 may be right


def test_administrator_removes_a_users_second_factor(
    client: TestClient, make_enrolled: MakeEnrolled, auth_headers: Headers
) -> None:
    enrolled = make_enrolled()
    password_step(client, enrolled.username)
    admin = auth_headers(roles=["admin"])
    assert client.delete(f"/users/{enrolled.user.id}/mfa", headers=admin).status_code == 204
    login(client, enrolled.username)
    assert client.delete(f"/users/{enrolled.user.id}/mfa", headers=admin).status_code == 204
    trail = client.get("/audit", headers=admin).json()["items"]
    resets = [e for e in trail if e["action"] == "mfa.reset"]
    assert len(resets) == 2


def test_only_administrators_remove_others_second_factor(
    client: TestClient, make_enrolled: MakeEnrolled, auth_headers: Headers
) -> None:
    enrolled = make_enrolled()
    response = client.delete(f"/users/{enrolled.user.id}/mfa", headers=auth_headers())
    assert response.status_code == 403
    password_step(client, enrolled.username)


def test_removing_the_second_factor_of_an_unknown_user_is_404(
    client: TestClient, auth_headers: Headers
) -> None:
    assert (
        client.delete("/users/999999/mfa", headers=auth_headers(roles=["admin"])).status_code == 404
    )


def test_get_account_shows_the_second_factor_and_the_recovery_codes_left(
    client: TestClient, make_user: MakeUser
) -> None:
    user = make_user()
    headers = bearer(login(client, user.username)["access_token"])
    assert client.get("/account", headers=headers).json()["mfa"] == {
        "totp": False,
        "recovery_codes_left": 0,
    }

    _, recovery_codes = enroll(client, headers)

    assert client.get("/account", headers=headers).json()["mfa"] == {
        "totp": True,
        "recovery_codes_left": len(recovery_codes),
    }
