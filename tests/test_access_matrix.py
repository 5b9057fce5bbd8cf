"""Every route of the app, called by every kind of caller: the whole access policy in one table.

A route added to the app without a row here fails `test_the_table_covers_every_route`,
so nobody can add an endpoint without deciding who may call it. Every answer seen here
must be one the OpenAPI document lists for the route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from notes_api.auth.dependencies import is_account_path
from notes_api.route_policy import PUBLIC_PATHS
from tests.conftest import DEFAULT_PASSWORD, DocumentedStatuses, MakeUser, bearer, login

CALLERS = ("anonymous", "no_roles", "user", "admin")


@dataclass(frozen=True)
class Case:
    """Expected status per caller, in CALLERS order, and a request that would succeed."""

    expected: tuple[int, int, int, int]
    json: dict[str, Any] | None = None
    data: dict[str, str] | None = None


PUBLIC_GET = Case((200, 200, 200, 200))
ADMIN_ONLY = (401, 403, 403)

TABLE: dict[tuple[str, str], Case] = {
    ("GET", "/"): PUBLIC_GET,
    ("GET", "/healthz"): PUBLIC_GET,
    ("GET", "/readyz"): PUBLIC_GET,
    ("GET", "/openapi.json"): PUBLIC_GET,
    ("GET", "/docs"): PUBLIC_GET,
    ("GET", "/docs/oauth2-redirect"): PUBLIC_GET,
    ("GET", "/redoc"): PUBLIC_GET,
    ("GET", "/.well-known/jwks.json"): PUBLIC_GET,
    ("GET", "/.well-known/oauth-authorization-server"): PUBLIC_GET,
    ("POST", "/token"): Case((400, 400, 400, 400), data={"username": "x", "password": "y"}),
    ("POST", "/token/revoke"): Case((200, 200, 200, 200), data={"token": "unknown"}),
    ("POST", "/signup"): Case(
        (404, 404, 404, 404), json={"username": "newbie", "password": "password123"}
    ),
    ("GET", "/identify/me"): Case((401, 200, 200, 200)),
    ("POST", "/account/password/forgot"): Case(
        (202, 202, 202, 202), json={"email": "nobody@mail.example"}
    ),
    ("POST", "/account/password/reset"): Case(
        (400, 400, 400, 400), json={"token": "A" * 43, "new_password": "password123"}
    ),
    ("GET", "/account"): Case((401, 200, 200, 200)),
    ("POST", "/account/password"): Case(
        (401, 204, 204, 204),
        json={"current_password": DEFAULT_PASSWORD, "new_password": DEFAULT_PASSWORD},
    ),
    ("GET", "/account/sessions"): Case((401, 200, 200, 200)),
    ("DELETE", "/account/sessions"): Case((401, 204, 204, 204)),
    ("DELETE", "/account/sessions/{session_id}"): Case((401, 404, 404, 404)),
    ("GET", "/users/{user_id}/sessions"): Case((*ADMIN_ONLY, 200)),
    ("DELETE", "/users/{user_id}/sessions"): Case((*ADMIN_ONLY, 204)),
    ("POST", "/notes"): Case((401, 403, 201, 201), json={"title": "t"}),
    ("GET", "/notes"): Case((401, 403, 200, 200)),
    ("GET", "/notes/{note_id}"): Case((401, 403, 404, 200)),
    ("PATCH", "/notes/{note_id}"): Case((401, 403, 404, 200), json={"title": "changed"}),
    ("DELETE", "/notes/{note_id}"): Case((401, 403, 404, 204)),
    ("GET", "/roles"): Case((*ADMIN_ONLY, 200)),
    ("POST", "/roles"): Case((*ADMIN_ONLY, 201), json={"name": "editor"}),
    ("DELETE", "/roles/{name}"): Case((*ADMIN_ONLY, 204)),
    ("GET", "/users"): Case((*ADMIN_ONLY, 200)),
    ("POST", "/users"): Case((*ADMIN_ONLY, 201), json={"username": "new", "password": "pass1234"}),
    ("GET", "/users/{user_id}"): Case((*ADMIN_ONLY, 200)),
    ("PATCH", "/users/{user_id}"): Case((*ADMIN_ONLY, 200), json={"email": "x@example.com"}),
    ("PUT", "/users/{user_id}/roles/{name}"): Case((*ADMIN_ONLY, 204)),
    ("DELETE", "/users/{user_id}/roles/{name}"): Case((*ADMIN_ONLY, 204)),
    ("GET", "/audit"): Case((*ADMIN_ONLY, 200)),
    ("GET", "/metrics"): Case((*ADMIN_ONLY, 200)),  # and the `metrics` role: tests/operations
    ("POST", "/account/tokens"): Case((401, 201, 201, 201), json={"name": "script"}),
    ("GET", "/account/tokens"): Case((401, 200, 200, 200)),
    # The admin's own token: everyone else's is 404, never 403.
    ("DELETE", "/account/tokens/{token_id}"): Case((401, 404, 404, 204)),
    ("POST", "/account/mfa/totp"): Case((401, 201, 201, 201)),
    # Nothing pending, nothing active: the callers have no second factor.
    ("POST", "/account/mfa/totp/confirm"): Case((401, 409, 409, 409), json={"code": "000000"}),
    ("DELETE", "/account/mfa/totp"): Case((401, 409, 409, 409), json={"code": "000000"}),
    ("DELETE", "/users/{user_id}/mfa"): Case((*ADMIN_ONLY, 204)),
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method, context.path or "")
        for context in iter_route_contexts(app.routes)
        for method in (context.methods or set()) - {"HEAD"}
    }


def test_the_table_covers_every_route(app: FastAPI) -> None:
    assert app_routes(app) == set(TABLE)


@pytest.fixture
def callers(client: TestClient, make_user: MakeUser) -> dict[str, dict[str, str]]:
    headers = {"anonymous": {}}
    for name, roles in (("no_roles", []), ("user", ["user"]), ("admin", ["admin"])):
        user = make_user(f"caller-{name.replace('_', '-')}", roles=roles)
        headers[name] = bearer(login(client, user.username)["access_token"])
    return headers


Fill = Callable[[str], str]


@pytest.fixture
def fill_path(client: TestClient, make_user: MakeUser, callers: dict[str, dict[str, str]]) -> Fill:
    """Concrete paths: the note belongs to the admin, the user is a fresh `user`, and
    every call gets fresh targets so that earlier (successful) calls change nothing."""

    def fill(path: str) -> str:
        admin = callers["admin"]
        note = client.post("/notes", json={"title": "admin's"}, headers=admin).json()
        role = f"temp{note['id']}"
        client.post("/roles", json={"name": role}, headers=admin)
        target = make_user(roles=["user", role])
        token = client.post("/account/tokens", json={"name": "t"}, headers=admin).json()
        return path.format(
            note_id=note["id"],
            user_id=target.id,
            name=role,
            token_id=token["id"],
            session_id="unknown",
        )

    return fill


def unique_names(body: dict[str, Any] | None, caller: str) -> dict[str, Any] | None:
    """Suffix names that must be unique, so each caller's create could succeed on its own."""
    if body is None:
        return None
    return {
        key: f"{value}{caller.replace('_', '')}" if key in ("username", "name") else value
        for key, value in body.items()
    }


@pytest.mark.parametrize(("method", "path"), sorted(TABLE))
def test_route_answers_each_caller_as_the_policy_says(
    client: TestClient,
    callers: dict[str, dict[str, str]],
    fill_path: Fill,
    documented_statuses: DocumentedStatuses,
    method: str,
    path: str,
) -> None:
    case = TABLE[(method, path)]
    for caller, expected in zip(CALLERS, case.expected, strict=True):
        response = client.request(
            method,
            fill_path(path),
            headers=callers[caller],
            json=unique_names(case.json, caller),
            data=case.data,
        )
        assert response.status_code == expected, (caller, response.text)
        documented = documented_statuses(method, path)
        assert documented is None or expected in documented, (caller, expected, documented)


ACCOUNT_ROUTES = sorted(
    key for key in TABLE if is_account_path(key[1]) and key[1] not in PUBLIC_PATHS
)


@pytest.mark.parametrize(("method", "path"), ACCOUNT_ROUTES)
def test_a_personal_token_is_refused_on_every_account_route_as_documented(
    client: TestClient,
    callers: dict[str, dict[str, str]],
    fill_path: Fill,
    documented_statuses: DocumentedStatuses,
    method: str,
    path: str,
) -> None:
    created = client.post("/account/tokens", json={"name": "script"}, headers=callers["admin"])
    case = TABLE[(method, path)]
    response = client.request(
        method,
        fill_path(path),
        headers=bearer(created.json()["token"]),
        json=case.json,
        data=case.data,
    )
    assert response.status_code == 403, response.text
    assert 403 in (documented_statuses(method, path) or set())
