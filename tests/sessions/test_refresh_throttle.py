"""The refresh grant is throttled per address, and a replayed token is audited once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from notes_api.audit.models import AuditEvent
from notes_api.main import create_app
from tests.conftest import MakeUser, login, make_settings

CEILING = 5


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = make_settings(database_url, login_max_failures_per_address=CEILING)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def refresh(client: TestClient, token: str) -> int:
    form = {"grant_type": "refresh_token", "refresh_token": token}
    return client.post("/token", data=form).status_code


def test_replaying_a_spent_token_is_throttled_and_audited_once(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    tokens = login(client, make_user().username)
    assert refresh(client, tokens["refresh_token"]) == 200
    statuses = [refresh(client, tokens["refresh_token"]) for _ in range(3 * CEILING)]
    assert statuses == [400] * CEILING + [429] * (2 * CEILING)
    with db_engine.connect() as connection:
        audited = connection.scalar(
            select(func.count()).where(AuditEvent.action == "refresh.reused")
        )
    assert audited == 1


def test_a_throttled_refresh_answers_rfc_6749_with_retry_after(client: TestClient) -> None:
    for _ in range(CEILING):
        assert refresh(client, "not-a-token") == 400
    answer = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert answer.status_code == 429
    assert answer.json()["error"] == "temporarily_unavailable"
    assert int(answer.headers["retry-after"]) > 0
    assert answer.headers["cache-control"] == "no-store"


def test_successful_refreshes_are_not_counted(client: TestClient, make_user: MakeUser) -> None:
    token = login(client, make_user().username)["refresh_token"]
    for _ in range(2 * CEILING):
        answer = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token})
        assert answer.status_code == 200
        token = answer.json()["refresh_token"]
