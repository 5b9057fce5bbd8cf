"""Every step of the second factor's life is in the audit trail, and no secret is."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.conftest import Headers, MakeUser, bearer, login
from tests.mfa.conftest import code, otp_grant, password_step, recovery_grant


def outside_the_window(secret: str) -> str:
    """A well-formed code of no step in the drift window, nor of the step after it (the
    clock may turn to a new step before the code is sent)."""
    taken = {code(secret, offset) for offset in (-1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in taken)


def test_each_step_is_audited_in_order_without_secrets_codes_or_tokens(
    client: TestClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = make_user()
    tokens = login(client, user.username)
    headers = bearer(tokens["access_token"])
    admin = auth_headers(roles=["admin"])
    typed: list[str] = []  # every code sent, right or wrong
    mfa_tokens: list[str] = []

    def start() -> str:
        started = client.post("/account/mfa/totp", headers=headers)
        assert started.status_code == 201, started.text
        secret: str = started.json()["secret"]
        return secret

    def confirm(typed_code: str, expected: int) -> list[str]:
        typed.append(typed_code)
        answer = client.post(
            "/account/mfa/totp/confirm", headers=headers, json={"code": typed_code}
        )
        assert answer.status_code == expected, answer.text
        codes: list[str] = answer.json().get("recovery_codes", [])
        return codes

    def remove(typed_code: str, expected: int) -> None:
        typed.append(typed_code)
        answer = client.request(
            "DELETE", "/account/mfa/totp", headers=headers, json={"code": typed_code}
        )
        assert answer.status_code == expected, answer.text

    secret = start()
    confirm(outside_the_window(secret), 400)
    recovery_codes = confirm(code(secret), 200)

    mfa_tokens.append(password_step(client, user.username))
    typed.append(outside_the_window(secret))
    assert otp_grant(client, mfa_tokens[-1], typed[-1]).status_code == 400
    typed.append(code(secret, 1))
    otp_login = otp_grant(client, mfa_tokens[-1], typed[-1])
    assert otp_login.status_code == 200, otp_login.text

    mfa_tokens.append(password_step(client, user.username))
    recovery_login = recovery_grant(client, mfa_tokens[-1], recovery_codes[0])
    assert recovery_login.status_code == 200, recovery_login.text

    assert client.delete(f"/users/{user.id}/mfa", headers=admin).status_code == 204

    secret_again = start()
    recovery_codes += confirm(code(secret_again), 200)
    remove(outside_the_window(secret_again), 400)
    remove(recovery_codes[-1], 204)

    trail = client.get("/audit", headers=admin, params={"limit": 100}).json()["items"]
    mine = [event for event in reversed(trail) if event["target"] == user.username]
    assert [(event["action"], event["detail"]) for event in mine] == [
        ("login.succeeded", {}),
        ("mfa.enrollment_started", {"replaced_pending": False}),
        ("mfa.code_rejected", {"purpose": "confirm"}),
        ("mfa.enabled", {}),
        ("login.mfa_required", {}),
        ("login.failed", {"method": "otp"}),
        ("login.succeeded", {"method": "otp"}),
        ("login.mfa_required", {}),
        ("mfa.recovery_code_used", {"left": 9}),
        ("login.succeeded", {"method": "recovery_code"}),
        ("mfa.reset", {"removed": True}),
        ("mfa.enrollment_started", {"replaced_pending": False}),
        ("mfa.enabled", {}),
        ("mfa.code_rejected", {"purpose": "disable"}),
        ("mfa.disabled", {"method": "recovery_code"}),
    ]

    details = json.dumps([event["detail"] for event in trail])
    for value in typed:  # six digits: looked for in the details, not among the timestamps' digits
        assert value not in details
    everything = json.dumps(trail)
    issued: list[dict[str, str]] = [tokens, otp_login.json(), recovery_login.json()]
    for value in (
        secret,
        secret_again,
        *recovery_codes,
        *(c.replace("-", "") for c in recovery_codes),
        *mfa_tokens,
        *(t["access_token"] for t in issued),
        *(t["refresh_token"] for t in issued),
    ):
        assert value not in everything
