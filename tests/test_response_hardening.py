"""What an outside review found in answers: the bearer token's size and claims bounded before
any work, authenticated answers never cached, no body type on a 204."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient

from notes_api.auth.tokens import MAX_ACCESS_TOKEN_LENGTH, AccessTokenCodec, InvalidTokenError
from notes_api.config import Settings
from tests.conftest import bearer

Headers = Callable[..., dict[str, str]]


def codec_of(settings: Settings) -> AccessTokenCodec:
    return AccessTokenCodec(
        key=settings.signing_key(),
        algorithm=settings.jwt_algorithm,
        issuer=settings.token_issuer,
        audience=settings.jwt_audience,
        lifetime=timedelta(minutes=5),
    )


@pytest.mark.parametrize("user_id", [2**31, 2**63, 10**30, 0, -1])
def test_a_signed_token_with_an_id_outside_the_database_range_is_401(
    client: TestClient, settings: Settings, user_id: int
) -> None:
    """On PostgreSQL such an id reached the query and failed there: a 500."""
    token = codec_of(settings).encode(
        user_id=user_id,
        username="ghost",
        roles=["user", "admin"],
        session_id="no-such-session",
        amr=["pwd"],
    )
    for path in ("/notes", "/identify/me", "/users/1"):
        response = client.get(path, headers=bearer(token))
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_an_oversized_bearer_token_is_refused_before_it_is_decoded(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("an oversized token reached the JWT decoder")

    monkeypatch.setattr(jwt, "decode", never)
    token = "e" * (MAX_ACCESS_TOKEN_LENGTH + 1)
    response = client.get("/notes", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_the_decoder_refuses_a_long_token_without_parsing_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jwt, "decode", lambda *_a, **_k: pytest.fail("decoded"))
    with pytest.raises(InvalidTokenError, match="too long"):
        codec_of(settings).decode("a." * 1_000_000)


@pytest.mark.parametrize("path", ["/notes", "/identify/me"])
def test_authenticated_answers_are_never_stored(
    client: TestClient, auth_headers: Headers, path: str
) -> None:
    response = client.get(path, headers=auth_headers())
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


def test_an_answer_to_a_bad_token_is_not_stored_either(client: TestClient) -> None:
    response = client.get("/notes", headers=bearer("not-a-token"))
    assert response.status_code == 401
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/metrics", "/notes", "/identify/me"])
def test_a_challenge_to_a_request_without_credentials_is_not_stored(
    client: TestClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["cache-control"] == "no-store"


def test_public_answers_keep_their_own_caching(client: TestClient) -> None:
    assert "cache-control" not in client.get("/healthz").headers


def test_a_204_has_no_content_type(client: TestClient, auth_headers: Headers) -> None:
    headers = auth_headers()
    created = client.post("/notes", headers=headers, json={"title": "t", "body": "b"})
    assert created.status_code == 201
    deleted = client.delete(f"/notes/{created.json()['id']}", headers=headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "content-type" not in deleted.headers


def test_timestamps_have_one_format_on_every_database(
    client: TestClient, auth_headers: Headers
) -> None:
    """SQLite answered `...:32Z` and PostgreSQL `...:14.549334Z`: whole seconds on both."""
    note = client.post("/notes", headers=auth_headers(), json={"title": "t", "body": "b"}).json()
    for field in ("created_at", "updated_at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", note[field]), note[field]
