"""While the database is unreachable, routes that need it answer 503 JSON, and say nothing
about the driver, the address or the query."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from notes_api.main import create_app
from tests.conftest import MakeUser, bearer, login, make_settings
from tests.test_health import UNREACHABLE_POSTGRES

DRIVER_WORDS = ("psycopg", "sqlalchemy", "operationalerror", "127.0.0.1", "port", "connection")


@pytest.fixture
def offline_client() -> Iterator[TestClient]:
    """Exceptions that escape the app are raised here, so a 503 must be a handled answer."""
    with TestClient(create_app(make_settings(UNREACHABLE_POSTGRES))) as client:
        yield client


def assert_database_unavailable(response_status: int, body: dict[str, str], text: str) -> None:
    assert response_status == 503
    assert body == {"detail": "The database is unavailable; try again shortly."}
    assert not any(word in text.lower() for word in DRIVER_WORDS)


def test_login_is_503_json_while_the_database_is_unreachable(offline_client: TestClient) -> None:
    response = offline_client.post(
        "/token", data={"username": "alice", "password": "correct horse battery staple"}
    )
    assert_database_unavailable(response.status_code, response.json(), response.text)
    assert response.headers["Retry-After"] == "5"


def test_refresh_is_503_json_while_the_database_is_unreachable(
    offline_client: TestClient,
) -> None:
    response = offline_client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": "x" * 43}
    )
    assert_database_unavailable(response.status_code, response.json(), response.text)


def test_admin_route_is_503_json_while_the_database_is_unreachable(
    offline_client: TestClient,
) -> None:
    """The access token verifies with the key alone; the route's query is what fails."""
    codec = offline_client.app.state.token_codec  # type: ignore[attr-defined]
    token = codec.encode(user_id=1, username="root", roles=["admin"], session_id="s1", amr=["pwd"])
    response = offline_client.get("/users", headers=bearer(token))
    assert_database_unavailable(response.status_code, response.json(), response.text)


def test_a_token_of_a_user_deleted_in_sql_gets_no_500(
    lenient: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user(roles=["user", "admin"])
    other = make_user()
    headers = bearer(login(lenient, user.username)["access_token"])
    with db_engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": user.id})
    # Deleting the user deletes its sessions too: once this worker has heard of it the
    # token is refused (401); until then the write meets the missing row (409). Never a 500.
    answered = {401, 409}
    assert lenient.post("/notes", headers=headers, json={"title": "t"}).status_code in answered
    ghost_role = lenient.post("/roles", headers=headers, json={"name": "ghost"})
    assert ghost_role.status_code in answered
    assert "already exists" not in ghost_role.text
    assert lenient.put(f"/users/{other.id}/roles/admin", headers=headers).status_code in answered
