"""What the bearer dependency costs in database statements, seen in the app's own traces (a
span per SQL statement, on the engine and on PostgreSQL's direct reads alike): a JWT is
checked without the database, a personal token with one lookup."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from notes_api.main import create_app
from tests.conftest import MakeUser, bearer, login, make_settings
from tests.otlp_collector import Collector, running_collector


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    with running_collector() as server:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        yield server


def statements_of(collector: Collector, route: str) -> list[list[str]]:
    """Per request to `route`, in order, the SQL its trace holds. Each request starts a
    trace of its own; background work (the mail outbox poll) is in none of them."""
    requests = [s for s in collector.spans if s.kind == s.SPAN_KIND_SERVER and s.name == route]
    requests.sort(key=lambda span: span.start_time_unix_nano)
    return [
        [
            attributes(span)["db.statement"]
            for span in sorted(collector.spans, key=lambda span: span.start_time_unix_nano)
            if span.kind == span.SPAN_KIND_CLIENT and span.trace_id == request.trace_id
        ]
        for request in requests
    ]


def attributes(span: Any) -> dict[str, str]:
    return {a.key: a.value.string_value for a in span.attributes}


def test_a_jwt_request_runs_no_statement_and_a_personal_token_only_its_lookup(
    database_url: str, make_user: MakeUser, collector: Collector
) -> None:
    user = make_user(roles=["user"])
    with TestClient(create_app(make_settings(database_url))) as client:
        access = login(client, user.username)["access_token"]
        created = client.post("/account/tokens", json={"name": "ci"}, headers=bearer(access))
        personal = created.json()["token"]
        assert client.get("/identify/me", headers=bearer(access)).status_code == 200
        for _ in range(2):
            assert client.get("/identify/me", headers=bearer(personal)).status_code == 200
    # Leaving the client ran the lifespan's exit, which flushed the queued spans.

    with_jwt, first_use, second_use = statements_of(collector, "GET /identify/me")
    assert with_jwt == []
    assert [kind(sql) for sql in queries(first_use)] == ["lookup", "last_used_at"]
    assert [kind(sql) for sql in queries(second_use)] == ["lookup"]  # written once a minute


def queries(statements: list[str]) -> list[str]:
    """Without SQLite's BEGIN (notes_api.database), transaction control that its engine
    traces as a statement; PostgreSQL's implicit BEGIN is no statement."""
    return [sql for sql in statements if not sql.startswith("BEGIN")]


def kind(sql: str) -> str:
    if sql.startswith("SELECT") and "FROM personal_access_tokens" in sql and "token_hash" in sql:
        return "lookup"
    if sql.startswith("UPDATE personal_access_tokens SET last_used_at"):
        return "last_used_at"
    return sql
