"""Hostile and malformed input: decoders never raise, the API never answers 500 or leaks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from notes_api.auth.roles import BUILTIN_ROLES
from notes_api.auth.tokens import AccessTokenCodec, InvalidTokenError
from notes_api.pagination import Cursor, decode_cursor, encode_cursor
from tests.conftest import Headers

codec = AccessTokenCodec(
    key="k" * 32, algorithm="HS256", issuer="i", audience="a", lifetime=timedelta(minutes=5)
)


@given(st.text())
def test_token_decoder_raises_only_invalid_token_for_any_text(token: str) -> None:
    with pytest.raises(InvalidTokenError):
        codec.decode(token)


@given(st.binary())
def test_token_decoder_raises_only_invalid_token_for_any_bytes(raw: bytes) -> None:
    with pytest.raises(InvalidTokenError):
        codec.decode(raw.decode("latin-1"))


@given(st.text(max_size=64))
def test_cursor_decoder_raises_only_value_error(cursor: str) -> None:
    try:
        decoded = decode_cursor(cursor)
    except ValueError:
        return
    assert decoded is not None
    assert 0 < decoded < 2**31


@given(st.integers(min_value=1, max_value=2**31 - 1))
def test_cursor_round_trips(last_id: int) -> None:
    assert decode_cursor(encode_cursor(last_id)) == last_id


@given(st.integers(min_value=1, max_value=2**31 - 1))
def test_every_cursor_matches_the_published_schema(last_id: int) -> None:
    schema = TypeAdapter(Cursor).json_schema()
    cursor = encode_cursor(last_id)
    assert re.fullmatch(schema["pattern"], cursor)
    assert schema["minLength"] <= len(cursor) <= schema["maxLength"]


@pytest.fixture
def lenient_client(app: FastAPI) -> Iterator[TestClient]:
    """A client that returns 500 responses instead of raising, as a real server would."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


# The client fixture is shared across examples on purpose: these requests change nothing.
@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=300))
def test_any_printable_authorization_header_is_401(client: TestClient, value: str) -> None:
    response = client.get("/identify/me", headers={"Authorization": value})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer " + "x" * 60_000},
        {"Authorization": "Bearer a.b"},
        {"Authorization": "bearer   "},
        {"Authorization": "Bearer \t"},
    ],
)
def test_malformed_authorization_headers_are_401(
    lenient_client: TestClient, headers: dict[str, str]
) -> None:
    assert lenient_client.get("/identify/me", headers=headers).status_code == 401


def test_non_utf8_form_body_on_token_is_a_clean_4xx(lenient_client: TestClient) -> None:
    response = lenient_client.post(
        "/token",
        content=b"username=\xff\xfe&password=\xc3\x28",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{not json"),
        ("application/json", b"\xff\xfe\x00"),
        ("text/plain", b"username=a&password=b"),
        ("multipart/form-data; boundary=x", b"garbage"),
    ],
)
def test_wrong_content_types_on_token_are_clean_4xx(
    lenient_client: TestClient, content_type: str, body: bytes
) -> None:
    response = lenient_client.post("/token", content=body, headers={"Content-Type": content_type})
    assert 400 <= response.status_code < 500
    assert response.json()


@pytest.mark.parametrize(
    "body",
    [
        b"\xff{",  # not UTF-8
        b'{"name": "\xc3("}',  # not UTF-8 inside a string
        b"[" * 100_000,  # nested past the decoder's recursion limit
        b"{",
        b"[]",
        b"null",
        b'{"name": 5}',
    ],
)
def test_broken_json_on_a_protected_route_is_a_json_422_and_creates_nothing(
    lenient_client: TestClient, auth_headers: Callable[..., dict[str, str]], body: bytes
) -> None:
    # 422 for every body that is not the route's JSON, as the contract says of invalid input:
    # FastAPI's own answer to bytes it cannot decode was an undocumented 400.
    headers = auth_headers(roles=["admin"])
    response = lenient_client.post(
        "/roles", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"
    assert len(lenient_client.get("/roles", headers=headers).json()) == len(BUILTIN_ROLES)


def test_unexpected_errors_are_json_500_without_internals(app: FastAPI) -> None:
    async def explode() -> None:
        raise RuntimeError("secret internals: SELECT password FROM users")

    app.add_api_route("/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/explode")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert "SELECT" not in response.text


SURROGATE = "\ud800"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/notes", {"title": SURROGATE}, "title"),
        ("/notes", {"title": "t", "body": f"a{SURROGATE}b"}, "body"),
        ("/roles", {"name": "r1", "description": SURROGATE}, "description"),
        ("/users", {"username": "x", "password": f"{SURROGATE}aaaaaaaaa"}, "password"),
        (
            "/users",
            {"username": "y", "password": "aaaaaaaaaa", "email": f"{SURROGATE}@x.io"},
            "email",
        ),
    ],
)
def test_unpaired_surrogates_are_422_naming_the_field(
    lenient: TestClient, auth_headers: Headers, path: str, body: dict[str, str], field: str
) -> None:
    import json

    payload = json.dumps(body).encode()  # json.dumps escapes the surrogate as \ud800
    response = lenient.post(
        path,
        content=payload,
        headers={**auth_headers(roles=["admin", "user"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", field]


def test_validation_errors_never_echo_the_input(lenient: TestClient, auth_headers: Headers) -> None:
    response = lenient.post(
        "/users",
        headers=auth_headers(roles=["admin"]),
        json={"username": "zed", "password": "secret!"},
    )
    assert response.status_code == 422
    assert "secret!" not in response.text
    assert set(response.json()["detail"][0]) == {"type", "loc", "msg"}


@pytest.mark.parametrize("path", ["/notes/", "/token/", "/healthz/"])
def test_trailing_slashes_are_not_redirected(lenient: TestClient, path: str) -> None:
    response = lenient.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code in (404, 405)
    assert "location" not in response.headers
