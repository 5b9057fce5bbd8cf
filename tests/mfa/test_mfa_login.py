"""Logging in with a second factor: 403 mfa_required, then one of the two MFA grants."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from notes_api.clock import utcnow
from notes_api.mfa.models import MfaChallenge
from tests.conftest import DEFAULT_PASSWORD, MakeUser, bearer, login
from tests.mfa.conftest import (
    MFA_OTP,
    MFA_RECOVERY,
    MakeEnrolled,
    code,
    enroll,
    otp_grant,
    password_step,
    recovery_grant,
)


def assert_invalid_grant(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"
    assert response.headers["cache-control"] == "no-store"


def test_password_grant_answers_403_mfa_required_with_an_mfa_token(
    client: TestClient, make_enrolled: MakeEnrolled
) -> None:
    enrolled = make_enrolled()
    response = client.post(
        "/token", data={"username": enrolled.username, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 403
    body = response.json()
    assert set(body) == {"error", "error_description", "mfa_token"}
    assert body["error"] == "mfa_required"
    assert len(body["mfa_token"]) >= 43
    assert response.headers["cache-control"] == "no-store"
    assert "access_token" not in body


def test_wrong_password_of_an_enrolled_user_is_still_invalid_grant(
    client: TestClient, make_enrolled: MakeEnrolled
) -> None:
    enrolled = make_enrolled()
    response = client.post("/token", data={"username": enrolled.username, "password": "wrong!!!"})
    assert_invalid_grant(response)
    assert "mfa_token" not in response.json()


def test_otp_grant_issues_the_token_pair(client: TestClient, make_enrolled: MakeEnrolled) -> None:
    enrolled = make_enrolled()
    response = otp_grant(client, password_step(client, enrolled.username), code(enrolled.secret, 1))
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token"}
    me = client.get("/identify/me", headers=bearer(tokens["access_token"]))
    assert me.json()["username"] == enrolled.username
    assert (
        client.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        ).status_code
        == 200
    )


def test_recovery_code_grant_issues_the_pair_and_the_code_works_once(
    client: TestClient, make_enrolled: MakeEnrolled
) -> None:
    enrolled = make_enrolled()
    recovery = enrolled.recovery_codes[0]
    first = recovery_grant(client, password_step(client, enrolled.username), recovery)
    assert first.status_code == 200, first.text
    again = recovery_grant(client, password_step(client, enrolled.username), recovery)
    assert_invalid_grant(again)


def test_recovery_codes_ignore_case_and_separators(
    client: TestClient, make_enrolled: MakeEnrolled
) -> None:
    enrolled = make_enrolled()
    typed = enrolled.recovery_codes[1].replace("-", " ").upper()
    assert (
        recovery_grant(client, password_step(client, enrolled.username), typed).status_code == 200
    )


def test_a_replayed_code_is_invalid_grant(client: TestClient, make_enrolled: MakeEnrolled) -> None:
    enrolled = make_enrolled()
    otp = code(enrolled.secret, 1)
    assert otp_grant(client, password_step(client, enrolled.username), otp).status_code == 200
    assert_invalid_grant(otp_grant(client, password_step(client, enrolled.username), otp))


def test_the_confirmation_code_cannot_log_in(
    client: TestClient, make_enrolled: MakeEnrolled
) -> None:
    """The step spent on confirming, and every older one, is refused (even when the next
    step has begun since, and the spent one is still inside the window)."""
    enrolled = make_enrolled()
    mfa_token = password_step(client, enrolled.username)
    spent = enrolled.confirmed_at
    assert_invalid_grant(otp_grant(client, mfa_token, code(enrolled.secret, 0, at=spent)))
    assert_invalid_grant(otp_grant(client, mfa_token, code(enrolled.secret, -1, at=spent)))


@pytest.mark.parametrize(
    "bad",
    [
        "12345",
        "1234567",
        "abcdef",
        "12 345",
        "",
        "\uff10\uff11\uff12\uff13\uff14\uff15",
        "1" * 5000,
        "\x00" * 6,
    ],
)
def test_a_malformed_code_is_invalid_grant_never_422_or_500(
    client: TestClient, make_enrolled: MakeEnrolled, bad: str
) -> None:
    enrolled = make_enrolled()
    mfa_token = password_step(client, enrolled.username)
    # "" too: a code sent empty is a malformed code, not a missing parameter.
    assert_invalid_grant(otp_grant(client, mfa_token, bad))
    assert_invalid_grant(recovery_grant(client, mfa_token, bad))


def test_an_empty_code_counts_as_a_wrong_one(
    client: TestClient, make_enrolled: MakeEnrolled
) -> None:
    """Five empty codes kill the mfa_token, as five wrong ones do: no free probing."""
    enrolled = make_enrolled()
    mfa_token = password_step(client, enrolled.username)
    for _ in range(5):
        assert_invalid_grant(otp_grant(client, mfa_token, ""))
    assert_invalid_grant(otp_grant(client, mfa_token, code(enrolled.secret, 1)))


@pytest.mark.parametrize("mfa_token", ["unknown", "x" * 5000, "\x00"])
def test_an_unknown_mfa_token_is_invalid_grant(client: TestClient, mfa_token: str) -> None:
    assert_invalid_grant(otp_grant(client, mfa_token, "123456"))


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": MFA_OTP, "otp": "123456"},
        {"grant_type": MFA_OTP, "mfa_token": "some-token"},
        {"grant_type": MFA_RECOVERY, "mfa_token": "some-token"},
        {"grant_type": MFA_OTP, "mfa_token": "", "otp": "123456"},
    ],
)
def test_missing_mfa_parameters_are_invalid_request(
    client: TestClient, form: dict[str, str]
) -> None:
    response = client.post("/token", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_an_expired_mfa_token_is_invalid_grant(
    client: TestClient, make_enrolled: MakeEnrolled, db_engine: Engine
) -> None:
    enrolled = make_enrolled()
    mfa_token = password_step(client, enrolled.username)
    with db_engine.begin() as connection:
        connection.execute(update(MfaChallenge).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_invalid_grant(otp_grant(client, mfa_token, code(enrolled.secret, 1)))


def test_the_mfa_token_lives_five_minutes_and_is_stored_hashed(
    client: TestClient, make_enrolled: MakeEnrolled, db_engine: Engine
) -> None:
    enrolled = make_enrolled()
    before = utcnow()
    mfa_token = password_step(client, enrolled.username)
    with db_engine.connect() as connection:
        challenge = connection.execute(select(MfaChallenge)).one()
    assert challenge.token_hash != mfa_token
    assert mfa_token not in challenge.token_hash
    lifetime = challenge.expires_at.replace(tzinfo=before.tzinfo) - before
    assert timedelta(minutes=4, seconds=50) < lifetime <= timedelta(minutes=5, seconds=10)


def test_the_tokens_claim_the_methods_the_mfa_token_recorded_then_otp(
    client: TestClient, make_enrolled: MakeEnrolled, db_engine: Engine
) -> None:
    """`amr` is read from the challenge, not assumed: one that recorded no first factor
    (written here by hand; the password step records `pwd`) yields a token claiming none."""
    import jwt

    enrolled = make_enrolled()
    mfa_token = password_step(client, enrolled.username)
    with db_engine.begin() as connection:
        assert connection.scalar(select(MfaChallenge.methods)) == "pwd"
        connection.execute(update(MfaChallenge).values(methods=""))
    response = otp_grant(client, mfa_token, code(enrolled.secret, 1))
    assert response.status_code == 200, response.text
    access = response.json()["access_token"]
    assert jwt.decode(access, options={"verify_signature": False})["amr"] == ["otp"]
    assert client.get("/identify/me", headers=bearer(access)).status_code == 200


def test_the_mfa_token_serves_one_success(
    client: TestClient, make_enrolled: MakeEnrolled, forget_last_step: Callable[[int], None]
) -> None:
    enrolled = make_enrolled()
    mfa_token = password_step(client, enrolled.username)
    assert otp_grant(client, mfa_token, code(enrolled.secret, 1)).status_code == 200
    forget_last_step(enrolled.user.id)
    assert_invalid_grant(otp_grant(client, mfa_token, code(enrolled.secret, 1)))
    assert_invalid_grant(recovery_grant(client, mfa_token, enrolled.recovery_codes[0]))


def test_the_mfa_token_dies_after_five_wrong_codes(
    client: TestClient, make_enrolled: MakeEnrolled
) -> None:
    enrolled = make_enrolled()
    mfa_token = password_step(client, enrolled.username)
    right = code(enrolled.secret, 1)
    wrong = [c for c in (f"{n:06d}" for n in range(20)) if c != right][:5]
    for guess in wrong:
        assert_invalid_grant(otp_grant(client, mfa_token, guess))
    assert_invalid_grant(otp_grant(client, mfa_token, right))


def test_wrong_codes_count_toward_login_throttling(
    client: TestClient, make_enrolled: MakeEnrolled
) -> None:
    """Five wrong codes (two challenges), and the next password login is 429: a correct
    password does not wipe out the failed codes."""
    enrolled = make_enrolled()
    right = code(enrolled.secret, 1)
    wrong = [c for c in (f"{n:06d}" for n in range(20)) if c != right]
    first = password_step(client, enrolled.username)
    for guess in wrong[:3]:
        assert_invalid_grant(otp_grant(client, first, guess))
    second = password_step(client, enrolled.username)
    for guess in wrong[3:5]:
        assert_invalid_grant(otp_grant(client, second, guess))
    response = client.post(
        "/token", data={"username": enrolled.username, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 429
    assert response.json()["error"] == "temporarily_unavailable"


def test_a_password_change_voids_a_pending_mfa_token(
    client: TestClient, make_enrolled: MakeEnrolled, db_engine: Engine
) -> None:
    from notes_api.auth.passwords import hash_password
    from notes_api.users.models import User

    enrolled = make_enrolled()
    mfa_token = password_step(client, enrolled.username)
    with db_engine.begin() as connection:
        connection.execute(
            update(User)
            .where(User.id == enrolled.user.id)
            .values(hashed_password=hash_password("another password 123"))
        )
    assert_invalid_grant(otp_grant(client, mfa_token, code(enrolled.secret, 1)))


def test_the_login_steps_are_audited_without_codes_or_tokens(
    client: TestClient, make_enrolled: MakeEnrolled, auth_headers
) -> None:  # type: ignore[no-untyped-def]
    enrolled = make_enrolled()
    mfa_token = password_step(client, enrolled.username)
    assert_invalid_grant(
        otp_grant(client, mfa_token, "000000" if code(enrolled.secret, 1) != "000000" else "111111")
    )
    otp = code(enrolled.secret, 1)
    assert otp_grant(client, mfa_token, otp).status_code == 200
    trail = client.get("/audit", headers=auth_headers(roles=["admin"])).json()["items"]
    actions = [
        (e["action"], e["detail"].get("method")) for e in trail if e["target"] == enrolled.username
    ]
    assert actions[:3] == [
        ("login.succeeded", "otp"),
        ("login.failed", "otp"),
        ("login.mfa_required", None),
    ]
    text = str(trail)
    assert mfa_token not in text
    assert enrolled.secret not in text


def test_the_password_step_records_who_was_asked_for_a_second_factor_and_from_where(
    app: FastAPI, make_user: MakeUser
) -> None:
    user, admin_user = make_user(), make_user(roles=["admin"])
    with TestClient(app, client=("198.51.100.9", 4242)) as remote:
        enroll(remote, bearer(login(remote, user.username)["access_token"]))
        password_step(remote, user.username)
        admin = bearer(login(remote, admin_user.username)["access_token"])
        trail = remote.get("/audit", headers=admin).json()["items"]
    asked = [e for e in trail if e["action"] == "login.mfa_required"]
    assert [(e["target"], e["actor_id"], e["client_ip"]) for e in asked] == [
        (user.username, user.id, "198.51.100.9")
    ]
