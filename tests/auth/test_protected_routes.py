"""RFC 6750 answers on protected routes: 401 for bad tokens, 403 for missing roles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from notes_api.auth.tokens import MAX_ACCESS_TOKEN_LENGTH, MAX_SESSION_ID_LENGTH
from notes_api.validation import DATABASE_INT_MAX
from tests.conftest import TEST_SECRET, Headers, MakeUser, bearer, login


def forge(**overrides: object) -> str:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": "mallory",
        "id": 1,
        "roles": "admin,user",
        "type": "access",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": "x",
        "iss": "notes-api",
        "aud": "notes-api",
        "sid": "s1",
        "amr": ["pwd"],
    }
    claims.update(overrides)
    return jwt.encode(claims, TEST_SECRET, algorithm="HS256")


def test_no_token_is_401_with_a_bare_bearer_challenge(client: TestClient) -> None:
    response = client.get("/identify/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Not authenticated"}


@pytest.mark.parametrize(
    "make_token",
    [
        lambda: "not-a-jwt",
        lambda: forge(type="refresh"),
        lambda: forge(exp=datetime.now(UTC) - timedelta(minutes=1)),
        lambda: forge(aud="someone-else"),
        lambda: jwt.encode({"sub": "x"}, "another-key-that-is-long-enough-1234567", "HS256"),
        lambda: "a" * 10_000,
    ],
    ids=["garbage", "wrong-type", "expired", "wrong-audience", "wrong-key", "huge"],
)
def test_unusable_token_is_401_invalid_token(
    client: TestClient, make_token: Callable[[], str]
) -> None:
    """Tokens are forged when the test runs: forged at collection, an hour-long run would
    leave every one of them expired, and the test would only ever check expiry."""
    authorization = "Bearer " + make_token()
    response = client.get("/identify/me", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def forge_of_length(length: int) -> str:
    """A validly signed token, padded by an extra claim to exactly `length` characters."""
    for padding in range(length):
        token = forge(padding="x" * padding)
        if len(token) >= length:
            assert len(token) == length
            return token
    raise AssertionError(length)


def test_a_token_of_exactly_the_length_cap_is_accepted(client: TestClient) -> None:
    token = forge_of_length(MAX_ACCESS_TOKEN_LENGTH)
    assert client.get("/identify/me", headers=bearer(token)).status_code == 200


def test_a_validly_signed_token_one_byte_over_the_length_cap_is_401(client: TestClient) -> None:
    token = forge_of_length(MAX_ACCESS_TOKEN_LENGTH + 1)
    response = client.get("/identify/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_a_user_id_of_exactly_the_database_maximum_is_accepted(client: TestClient) -> None:
    response = client.get("/identify/me", headers=bearer(forge(id=DATABASE_INT_MAX)))
    assert response.status_code == 200
    assert response.json()["id"] == DATABASE_INT_MAX


@pytest.mark.parametrize("length", [1, MAX_SESSION_ID_LENGTH], ids=["shortest", "longest"])
def test_a_sid_at_either_end_of_its_allowed_length_is_accepted(
    client: TestClient, length: int
) -> None:
    token = forge(sid="s" * length)
    assert client.get("/identify/me", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("authorization", ["Basic Zm9vOmJhcg==", "Bearer", "Token abc", ""])
def test_other_authorization_schemes_are_401(client: TestClient, authorization: str) -> None:
    response = client.get("/identify/me", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_refresh_token_is_not_an_access_token(client: TestClient, make_user: MakeUser) -> None:
    tokens = login(client, make_user().username)
    response = client.get("/identify/me", headers=bearer(tokens["refresh_token"]))
    assert response.status_code == 401


def test_identify_me_returns_the_token_identity(client: TestClient, make_user: MakeUser) -> None:
    user = make_user("alice", roles=["user", "admin"])
    tokens = login(client, "alice")
    response = client.get("/identify/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.json() == {"id": user.id, "username": "alice", "roles": ["admin", "user"]}


def test_identify_me_works_for_a_user_without_roles(
    client: TestClient, make_user: MakeUser
) -> None:
    make_user("norole", roles=[])
    response = client.get("/identify/me", headers=bearer(login(client, "norole")["access_token"]))
    assert response.status_code == 200
    assert response.json()["roles"] == []


def test_valid_token_without_the_role_is_403_insufficient_scope(
    client: TestClient, make_user: MakeUser
) -> None:
    make_user("bob", roles=["user"])
    response = client.get("/roles", headers=bearer(login(client, "bob")["access_token"]))
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')


def test_roles_come_from_the_token_without_a_database_read(
    app: FastAPI, client: TestClient
) -> None:
    """A token for a user id that does not exist still authorizes: roles are in the token."""
    token = app.state.token_codec.encode(
        user_id=999, username="ghost", roles=["admin"], session_id="s1", amr=["pwd"]
    )
    assert client.get("/roles", headers=bearer(token)).status_code == 200


def test_openapi_declares_the_password_flow_on_protected_operations(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    scheme = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == "token"
    assert schema["paths"]["/identify/me"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
    assert "security" not in schema["paths"]["/token"]["post"]


def test_openapi_documents_401_and_403_on_role_protected_operations(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/roles"]["get"]
    assert {"401", "403"} <= operation["responses"].keys()


def test_missing_role_is_403_even_with_an_invalid_body(
    lenient: TestClient, auth_headers: Headers
) -> None:
    assert lenient.post("/users", headers=auth_headers(roles=["user"]), json={}).status_code == 403
    assert (
        lenient.get("/users", headers=auth_headers(roles=["user"]), params={"limit": 0}).status_code
        == 403
    )
