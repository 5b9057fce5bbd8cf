"""Requests a reviewer found answering 500, leaking, or straying from the contract."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.conftest import MakeUser, bearer, login

Headers = Callable[..., dict[str, str]]


@pytest.fixture
def lenient(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


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


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (
            b'--x\r\nContent-Disposition: form-data; name="username"; filename="f.txt"\r\n\r\n'
            b'abc\r\n--x\r\nContent-Disposition: form-data; name="password"\r\n\r\npw\r\n--x--\r\n',
            "multipart/form-data; boundary=x",
        ),
        (b"garbage", "multipart/form-data"),
    ],
    ids=["file-upload", "no-boundary"],
)
def test_malformed_token_requests_answer_in_rfc6749_format(
    lenient: TestClient, content: bytes, content_type: str
) -> None:
    response = lenient.post("/token", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.headers["cache-control"] == "no-store"
    assert "_file" not in response.text


def test_a_forged_forwarded_address_is_not_stored(
    app: FastAPI, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = make_user()
    with TestClient(app, client=("z" * 80, 1)) as odd_client:
        response = odd_client.post(
            "/token", data={"username": user.username, "password": "nope1234"}
        )
    assert response.status_code == 400


def test_a_token_of_a_user_deleted_in_sql_gets_no_500(
    lenient: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user(roles=["user", "admin"])
    other = make_user()
    headers = bearer(login(lenient, user.username)["access_token"])
    with db_engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": user.id})
    assert lenient.post("/notes", headers=headers, json={"title": "t"}).status_code == 409
    ghost_role = lenient.post("/roles", headers=headers, json={"name": "ghost"})
    assert ghost_role.status_code == 409
    assert "already exists" not in ghost_role.text
    assert lenient.put(f"/users/{other.id}/roles/admin", headers=headers).status_code == 409


@pytest.mark.parametrize("path", ["/notes/", "/token/", "/healthz/"])
def test_trailing_slashes_are_not_redirected(lenient: TestClient, path: str) -> None:
    response = lenient.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code in (404, 405)
    assert "location" not in response.headers


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_answers_head(lenient: TestClient, path: str) -> None:
    assert lenient.head(path).status_code == 200


@pytest.mark.parametrize("note_id", ["1_0", "+1", "1.0", "%201", "0x1", "\u0661"])
def test_ids_are_plain_digits(lenient: TestClient, auth_headers: Headers, note_id: str) -> None:
    response = lenient.get(f"/notes/{note_id}", headers=auth_headers())
    assert response.status_code == 422


def test_missing_role_is_403_even_with_an_invalid_body(
    lenient: TestClient, auth_headers: Headers
) -> None:
    assert lenient.post("/users", headers=auth_headers(roles=["user"]), json={}).status_code == 403
    assert (
        lenient.get("/users", headers=auth_headers(roles=["user"]), params={"limit": 0}).status_code
        == 403
    )
