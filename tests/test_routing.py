"""Routing: each route turns away paths outside its literal prefix, and the answers stay the
router's (notes_api.routing)."""

from __future__ import annotations

import re
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


def test_a_405_allows_every_method_of_the_resource(client: TestClient) -> None:
    # GET, PATCH and DELETE of /notes/{note_id} are three routes; Starlette's 405 named the
    # first one's method only (RFC 9110 section 15.5.6 asks for the resource's).
    assert client.put("/notes/1").headers["allow"] == "DELETE, GET, PATCH"


def test_every_documented_path_answers_an_undocumented_method_with_its_methods(
    client: TestClient,
) -> None:
    """What an OpenAPI checker does (schemathesis' allow_header_conformance): a method the
    document does not list for a path is 405, and `Allow` names every method it does list."""
    paths: dict[str, dict[str, object]] = client.get("/openapi.json").json()["paths"]
    for template, operations in paths.items():
        path = re.sub(r"\{[^}]+\}", "1", template)  # routing matches before validation
        documented = {method.upper() for method in operations}
        unused = next(m for m in ("PUT", "PATCH", "DELETE", "POST") if m not in documented)
        answer = client.request(unused, path)
        assert answer.status_code == 405, (template, unused, answer.status_code)
        allowed = set(answer.headers["allow"].split(", "))
        assert documented <= allowed <= documented | {"HEAD"}, (template, allowed)


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
