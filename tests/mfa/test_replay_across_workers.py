"""A code is accepted once, even when two server processes receive it at the same moment.

The guard is one conditional UPDATE per spent thing (the user's last TOTP step, a
recovery code, the mfa_token), so PostgreSQL lets exactly one concurrent request
through. Run against two `notes-api serve` processes on the same database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest

from tests.conftest import DEFAULT_PASSWORD, TEST_SECRET, MakeUser
from tests.mfa.conftest import MFA_OTP, MFA_RECOVERY, code
from tests.servers import running_server

CONCURRENT = 8


@pytest.fixture
def two_servers(database_url: str) -> Iterator[tuple[str, str]]:
    env = {
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": TEST_SECRET,
        "APP_ENV": "development",
        # The losers' wrong codes count as failed logins; keep them all under the limit so
        # that every loser is answered 400 (not 429) and the count below is exact.
        "LOGIN_MAX_FAILURES_PER_USER": "100",
    }
    with running_server(env) as first, running_server(env) as second:
        yield first, second


def enroll(base_url: str, username: str) -> tuple[str, list[str]]:
    tokens = httpx2.post(
        f"{base_url}/token", data={"username": username, "password": DEFAULT_PASSWORD}
    ).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    secret = httpx2.post(f"{base_url}/account/mfa/totp", headers=headers).json()["secret"]
    confirmed = httpx2.post(
        f"{base_url}/account/mfa/totp/confirm", headers=headers, json={"code": code(secret)}
    )
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


def mfa_token(base_url: str, username: str) -> str:
    response = httpx2.post(
        f"{base_url}/token", data={"username": username, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 403, response.text
    token: str = response.json()["mfa_token"]
    return token


def all_at_once(requests: list[Callable[[], httpx2.Response]]) -> list[int]:
    """Run the requests on as many threads, released together by a barrier."""
    barrier = threading.Barrier(len(requests))

    def run(request: Callable[[], httpx2.Response]) -> int:
        barrier.wait()
        return request().status_code

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return sorted(pool.map(run, requests))


def grant(base_url: str, **form: str) -> Callable[[], httpx2.Response]:
    return lambda: httpx2.post(f"{base_url}/token", data=form, timeout=30)


def test_one_code_on_many_logins_at_once_logs_in_exactly_once(
    two_servers: tuple[str, str], make_user: MakeUser
) -> None:
    user = make_user()
    secret, _ = enroll(two_servers[0], user.username)
    otp = code(secret, 1)
    requests = [
        grant(
            base_url,
            grant_type=MFA_OTP,
            mfa_token=mfa_token(base_url, user.username),
            otp=otp,
        )
        for i in range(CONCURRENT)
        for base_url in [two_servers[i % 2]]
    ]
    assert all_at_once(requests) == [200] + [400] * (CONCURRENT - 1)


def test_one_recovery_code_on_many_logins_at_once_logs_in_exactly_once(
    two_servers: tuple[str, str], make_user: MakeUser
) -> None:
    user = make_user()
    _, recovery_codes = enroll(two_servers[0], user.username)
    requests = [
        grant(
            base_url,
            grant_type=MFA_RECOVERY,
            mfa_token=mfa_token(base_url, user.username),
            recovery_code=recovery_codes[0],
        )
        for i in range(CONCURRENT)
        for base_url in [two_servers[i % 2]]
    ]
    assert all_at_once(requests) == [200] + [400] * (CONCURRENT - 1)


def test_one_mfa_token_with_different_codes_at_once_serves_one_success(
    two_servers: tuple[str, str], make_user: MakeUser
) -> None:
    """The current and the next step's code, and recovery codes, all on one mfa_token."""
    user = make_user()
    secret, recovery_codes = enroll(two_servers[0], user.username)
    token = mfa_token(two_servers[0], user.username)
    requests = [grant(two_servers[1], grant_type=MFA_OTP, mfa_token=token, otp=code(secret, 1))]
    requests += [
        grant(two_servers[i % 2], grant_type=MFA_RECOVERY, mfa_token=token, recovery_code=c)
        for i, c in enumerate(recovery_codes[: CONCURRENT - 1])
    ]
    assert all_at_once(requests) == [200] + [400] * (CONCURRENT - 1)
