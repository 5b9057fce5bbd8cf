"""Every notes route needs a valid access token (401) carrying the user or admin role (403)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.notes.conftest import MakeCaller

ROUTES = [
    ("POST", "/notes", {"title": "t"}),
    ("GET", "/notes", None),
    ("GET", "/notes/1", None),
    ("PATCH", "/notes/1", {"title": "t"}),
    ("DELETE", "/notes/1", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_notes_route_without_a_token_is_401(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    response = client.request(method, path, json=body)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_notes_route_with_an_invalid_token_is_401(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    headers = {"Authorization": "Bearer not-a-jwt"}

    response = client.request(method, path, json=body, headers=headers)

    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_notes_route_for_a_user_with_no_roles_is_403(
    client: TestClient, make_caller: MakeCaller, method: str, path: str, body: Any
) -> None:
    nobody = make_caller(roles=[])

    response = client.request(method, path, json=body, headers=nobody.headers)

    assert response.status_code == 403


def test_user_with_only_an_unrelated_role_is_403(
    client: TestClient, make_caller: MakeCaller, db_engine: Engine
) -> None:
    with db_engine.begin() as connection:
        connection.execute(text("INSERT INTO roles (name) VALUES ('auditor')"))
    auditor = make_caller(roles=["auditor"])

    response = client.post("/notes", json={"title": "t"}, headers=auditor.headers)

    assert response.status_code == 403
