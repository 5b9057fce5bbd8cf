"""Helpers for second-factor tests: enroll a user through the API, compute codes with pyotp."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from notes_api.mfa.models import TotpCredential
from tests.conftest import DEFAULT_PASSWORD, MakeUser, TestUser, bearer, login

MFA_OTP = "urn:notes-api:params:oauth:grant-type:mfa-otp"
MFA_RECOVERY = "urn:notes-api:params:oauth:grant-type:mfa-recovery-code"


def code(secret: str, steps_ahead: int = 0, at: float | None = None) -> str:
    """The code of the current 30-second step (or of the step of the time `at`), or of a
    later one (still inside the window)."""
    return pyotp.TOTP(secret).at(time.time() if at is None else at, counter_offset=steps_ahead)


@dataclass
class EnrolledUser:
    user: TestUser
    secret: str
    recovery_codes: list[str]
    headers: dict[str, str]
    """An Authorization header from before the enrollment (password only)."""
    confirmed_at: float
    """When the enrollment was confirmed: its 30-second step's code is spent."""

    @property
    def username(self) -> str:
        return self.user.username


def enroll(client: TestClient, headers: dict[str, str]) -> tuple[str, list[str]]:
    secret, recovery_codes, _ = enroll_at(client, headers)
    return secret, recovery_codes


def enroll_at(client: TestClient, headers: dict[str, str]) -> tuple[str, list[str], float]:
    """`enroll`, and the time whose step the confirmation spent: a test that reuses that
    step's code must not recompute it, since the next step may have begun meanwhile."""
    started = client.post("/account/mfa/totp", headers=headers)
    assert started.status_code == 201, started.text
    secret: str = started.json()["secret"]
    confirmed_at = time.time()
    confirmed = client.post(
        "/account/mfa/totp/confirm", headers=headers, json={"code": code(secret, at=confirmed_at)}
    )
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"], confirmed_at


MakeEnrolled = Callable[..., EnrolledUser]


@pytest.fixture
def make_enrolled(client: TestClient, make_user: MakeUser) -> MakeEnrolled:
    """`make_enrolled(roles=["admin"])`: a user with TOTP active (the current step spent)."""

    def make(roles: list[str] | tuple[str, ...] = ("user",)) -> EnrolledUser:
        user = make_user(roles=roles)
        headers = bearer(login(client, user.username)["access_token"])
        secret, codes, confirmed_at = enroll_at(client, headers)
        return EnrolledUser(
            user=user,
            secret=secret,
            recovery_codes=codes,
            headers=headers,
            confirmed_at=confirmed_at,
        )

    return make


@pytest.fixture
def forget_last_step(db_engine: Engine) -> Callable[[int], None]:
    """Let the current step's code be used again (tests needing more codes than the window)."""

    def forget(user_id: int) -> None:
        with db_engine.begin() as connection:
            connection.execute(
                update(TotpCredential).where(TotpCredential.user_id == user_id).values(last_step=0)
            )

    return forget


def password_step(client: TestClient, username: str, password: str = DEFAULT_PASSWORD) -> str:
    """Log in with the password; a user with TOTP gets 403 mfa_required and an mfa_token."""
    response = client.post("/token", data={"username": username, "password": password})
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == "mfa_required"
    token: str = body["mfa_token"]
    return token


def otp_grant(client: TestClient, mfa_token: str, otp: str):  # type: ignore[no-untyped-def]
    return client.post("/token", data={"grant_type": MFA_OTP, "mfa_token": mfa_token, "otp": otp})


def recovery_grant(client: TestClient, mfa_token: str, recovery_code: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/token",
        data={"grant_type": MFA_RECOVERY, "mfa_token": mfa_token, "recovery_code": recovery_code},
    )
