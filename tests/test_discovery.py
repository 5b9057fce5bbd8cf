"""`/.well-known/oauth-authorization-server` (RFC 8414): URLs built from PUBLIC_URL."""

from __future__ import annotations

import jwt
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from fastapi.testclient import TestClient

from notes_api.main import create_app
from tests.conftest import MakeUser, bearer, login, make_settings


def test_metadata_points_at_this_service_and_names_the_tokens_issuer(
    database_url: str, make_user: MakeUser
) -> None:
    settings = make_settings(
        database_url,
        public_url="https://notes.example.org/api/",
        jwt_issuer="https://notes.example.org",
    )
    with TestClient(create_app(settings)) as client:
        answer = client.get("/.well-known/oauth-authorization-server")
        token = login(client, make_user().username)["access_token"]

    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=300"
    metadata = answer.json()
    assert metadata["issuer"] == jwt.decode(token, options={"verify_signature": False})["iss"]
    assert metadata["token_endpoint"] == "https://notes.example.org/api/token"
    assert metadata["revocation_endpoint"] == "https://notes.example.org/api/token/revoke"
    assert metadata["jwks_uri"] == "https://notes.example.org/api/.well-known/jwks.json"
    assert metadata["token_endpoint_auth_methods_supported"] == ["none"]
    # Spelt out here as DESIGN.md names them, not imported: a typo in the code must fail.
    assert sorted(metadata["grant_types_supported"]) == [
        "password",
        "refresh_token",
        "urn:notes-api:params:oauth:grant-type:mfa-otp",
        "urn:notes-api:params:oauth:grant-type:mfa-recovery-code",
    ]


def test_without_jwt_issuer_the_issuer_is_public_url_in_the_metadata_and_the_tokens(
    database_url: str, make_user: MakeUser
) -> None:
    """RFC 8414: the issuer is the https URL the metadata is found under, and DESIGN has the
    metadata's issuer equal the tokens' `iss`."""
    settings = make_settings(database_url, public_url="https://notes.example.org/")
    with TestClient(create_app(settings)) as client:
        issuer = client.get("/.well-known/oauth-authorization-server").json()["issuer"]
        token = login(client, make_user().username)["access_token"]
        accepted = client.get("/identify/me", headers=bearer(token)).status_code

    assert issuer == "https://notes.example.org"
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == issuer
    assert accepted == 200


def test_the_metadata_passes_authlib_validation_in_production(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a standard OAuth client library checks (RFC 8414 section 2), served the way a
    deployment serves it: production, behind an https PUBLIC_URL, JWT_ISSUER left unset."""
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)  # would excuse http URLs
    settings = make_settings(
        database_url, app_env="production", public_url="https://notes.example.org"
    )
    with TestClient(create_app(settings)) as client:
        metadata = client.get("/.well-known/oauth-authorization-server").json()

    AuthorizationServerMetadata(metadata).validate()
    assert metadata["response_types_supported"] == ["none"]  # no authorization endpoint


def test_metadata_is_public(client: TestClient) -> None:
    assert client.get("/.well-known/oauth-authorization-server").status_code == 200
