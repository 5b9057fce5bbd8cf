"""CORS: listed origins may call the API from a browser with a bearer token; others may not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from notes_api.main import create_app
from tests.conftest import make_settings

ALLOWED = "https://notes.example.com"


@pytest.fixture
def cors_client(database_url: str) -> Iterator[TestClient]:
    settings = make_settings(database_url, cors_origins=f"{ALLOWED}, https://other.example.com")
    with TestClient(create_app(settings)) as client:
        yield client


def preflight(client: TestClient, origin: str):  # type: ignore[no-untyped-def]
    return client.options(
        "/notes",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_listed_origin_may_send_the_authorization_header(cors_client: TestClient) -> None:
    response = preflight(cors_client, ALLOWED)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


def test_listed_origin_sees_the_response_and_its_location(cors_client: TestClient) -> None:
    response = cors_client.get("/healthz", headers={"Origin": ALLOWED})
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "location" in response.headers["access-control-expose-headers"].lower()


def test_unlisted_origin_gets_no_cors_headers(cors_client: TestClient) -> None:
    response = cors_client.get("/healthz", headers={"Origin": "https://evil.example.net"})
    assert "access-control-allow-origin" not in response.headers
    assert (
        "access-control-allow-origin"
        not in preflight(cors_client, "https://evil.example.net").headers
    )


def test_credentials_are_never_allowed(cors_client: TestClient) -> None:
    response = preflight(cors_client, ALLOWED)
    assert "access-control-allow-credentials" not in response.headers


def test_no_cors_headers_when_no_origin_is_configured(client: TestClient) -> None:
    response = client.get("/healthz", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in response.headers
