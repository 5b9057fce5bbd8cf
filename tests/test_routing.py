"""Routing: each route turns away paths outside its literal prefix, and the answers stay the
router's (notes_api.routing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from notes_api.routing import PrefixCheckedRoute
from tests.conftest import Headers


def test_every_route_of_the_app_checks_its_prefix_first(app: FastAPI) -> None:
    # A route of plain APIRoute class would still work, only slower; this keeps new routers
    # (and routes added with @app.get) on the fast path.
    routes = [route for route in app.routes if isinstance(route, APIRoute)]
    assert routes
    assert [r.path for r in routes if not isinstance(r, PrefixCheckedRoute)] == []


def test_a_route_with_a_parameter_matches_past_its_prefix(
    client: TestClient, auth_headers: Headers
) -> None:
    headers = auth_headers()
    created = client.post("/notes", json={"title": "t", "body": "b"}, headers=headers)
    assert client.get(f"/notes/{created.json()['id']}", headers=headers).status_code == 200


def test_a_known_path_with_another_method_is_still_405(
    client: TestClient, auth_headers: Headers
) -> None:
    # A route whose path matches but not its method: the router answers 405, not 404.
    answer = client.put("/notes/1", json={}, headers=auth_headers())
    assert answer.status_code == 405
    assert answer.json() == {"detail": "Method Not Allowed"}


def test_a_path_no_route_has_is_404(client: TestClient) -> None:
    answer = client.get("/notesx")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not Found"}


@pytest.fixture
def under_root_path(app: FastAPI) -> Iterator[TestClient]:
    """Served behind a proxy that strips /api (uvicorn --root-path /api): the scope's
    path keeps the prefix, and routes match what follows it."""
    with TestClient(app, root_path="/api") as client:
        yield client


def test_routes_match_the_path_after_a_root_path(under_root_path: TestClient) -> None:
    assert under_root_path.get("/api/healthz").json() == {"status": "ok"}
    assert under_root_path.get("/api/token").status_code == 405
