"""Traces: trace ids in every access line, spans per request and per SQL statement sent over
OTLP to a collector (a fake one here, speaking OTLP/HTTP), and a dead collector harmless."""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from notes_api import tracing
from notes_api.main import create_app
from tests.conftest import DEFAULT_PASSWORD, MakeUser, make_settings
from tests.otlp_collector import Collector, running_collector
from tests.servers import free_port

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def collector() -> Iterator[Collector]:
    with running_collector() as server:
        yield server


def access_lines(output: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == "notes_api.access"]


def app_logging_to(monkeypatch: pytest.MonkeyPatch, database_url: str) -> tuple[Any, io.StringIO]:
    """An app whose log goes to a buffer (stderr swapped in the test itself: pytest's
    capture puts its own back between a fixture's setup and the test)."""
    output = io.StringIO()
    monkeypatch.setattr(sys, "stderr", output)
    return create_app(make_settings(database_url, log_format="json")), output


@pytest.fixture
def no_otel(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in __import__("os").environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)


@pytest.mark.usefixtures("no_otel")
def test_with_tracing_off_the_access_line_carries_the_incoming_trace_id(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, logs = app_logging_to(monkeypatch, database_url)
    with TestClient(app) as client:
        client.get("/healthz", headers={"traceparent": TRACEPARENT})
        client.get("/healthz")
        client.get("/healthz", headers={"traceparent": f"00-{'0' * 32}-{PARENT_ID}-01"})
        client.get("/healthz", headers={"traceparent": f"00-{TRACE_ID.upper()}-{PARENT_ID}-01"})
    continued, fresh, zeros, upper = access_lines(logs)
    assert continued["trace_id"] == TRACE_ID
    for line in (continued, fresh, zeros, upper):
        assert re.fullmatch(r"[0-9a-f]{32}", line["trace_id"])
        assert re.fullmatch(r"[0-9a-f]{16}", line["span_id"])
        assert line["span_id"] != PARENT_ID
    assert len({fresh["trace_id"], zeros["trace_id"], upper["trace_id"], TRACE_ID}) == 4


@pytest.mark.parametrize(
    ("bits", "draw", "expected"), [(128, 5, "0" * 31 + "5"), (64, 0, "0" * 15 + "1")]
)
def test_a_new_id_is_fixed_width_hex_and_never_all_zeros(
    bits: int, draw: int, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracing.random, "getrandbits", lambda _bits: draw)
    assert tracing.random_hex_id(bits) == expected


def hex_id(raw: bytes) -> str:
    return raw.hex()


@pytest.mark.usefixtures("no_otel")
def test_spans_per_request_and_per_statement_continue_the_incoming_trace(
    database_url: str,
    make_user: MakeUser,
    collector: Collector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    user = make_user()
    app, logs = app_logging_to(monkeypatch, database_url)
    with TestClient(app) as client:
        answer = client.post(
            "/token?debug=hunter2",
            data={"username": user.username, "password": DEFAULT_PASSWORD},
            headers={"traceparent": TRACEPARENT},
        )
        assert answer.status_code == 200
    # Leaving the client ran the lifespan's exit, which flushed the queued spans.
    (server,) = [span for span in collector.spans if span.kind == span.SPAN_KIND_SERVER]
    assert server.name == "POST /token"
    assert (hex_id(server.trace_id), hex_id(server.parent_span_id)) == (TRACE_ID, PARENT_ID)
    # Every statement span is the request's: the mail sender's outbox polls (one at
    # start-up, then one a second) leave none.
    statements = [span for span in collector.spans if span.kind == span.SPAN_KIND_CLIENT]
    assert len(statements) >= 3  # throttle reservation, user lookup, session insert, ...
    assert {hex_id(span.trace_id) for span in statements} == {TRACE_ID}
    assert {hex_id(span.parent_span_id) for span in statements} == {hex_id(server.span_id)}
    assert collector.resources[0]["service.name"] == "notes-api"
    (line,) = access_lines(logs)
    assert (line["trace_id"], line["span_id"]) == (TRACE_ID, hex_id(server.span_id))
    exported = b"".join(span.SerializeToString() for span in collector.spans)
    for secret in (b"hunter2", DEFAULT_PASSWORD.encode(), answer.json()["access_token"].encode()):
        assert secret not in exported


@pytest.mark.usefixtures("no_otel")
def test_the_note_reads_have_a_span_per_statement_without_values(
    database_url: str,
    make_user: MakeUser,
    collector: Collector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GET /notes and GET /notes/{id} run on psycopg itself on PostgreSQL, outside the
    engine: their statements are traced all the same, with placeholders and no values."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    user = make_user()
    app, _ = app_logging_to(monkeypatch, database_url)
    with TestClient(app) as client:
        token = client.post(
            "/token", data={"username": user.username, "password": DEFAULT_PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "traceparent": TRACEPARENT}
        created = client.post("/notes", headers=headers, json={"title": "t", "body": "sekrit"})
        note = created.json()["id"]
        for path in ("/notes?limit=7", f"/notes/{note}"):
            headers["traceparent"] = f"00-{TRACE_ID}-{PARENT_ID}-01"
            assert client.get(path, headers=headers).status_code == 200
    servers = {
        span.name: span
        for span in collector.spans
        if span.kind == span.SPAN_KIND_SERVER and span.name.startswith("GET")
    }
    assert set(servers) == {"GET /notes", "GET /notes/{note_id}"}
    for server in servers.values():
        statements = [
            {a.key: a.value.string_value for a in span.attributes}
            for span in collector.spans
            if span.kind == span.SPAN_KIND_CLIENT and span.parent_span_id == server.span_id
        ]
        # SQLite's engine also traces the BEGIN its connections start with.
        (select,) = [s for s in statements if s["db.statement"].startswith("SELECT")]
        assert "FROM notes" in select["db.statement"]
    exported = b"".join(span.SerializeToString() for span in collector.spans)
    assert b"sekrit" not in exported
    assert token.encode() not in exported


@pytest.mark.usefixtures("no_otel")
def test_a_collector_that_refuses_connections_fails_no_request(
    database_url: str, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # bounds the shutdown's last attempt
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "10")
    user = make_user()
    app, logs = app_logging_to(monkeypatch, database_url)
    with TestClient(app) as client:
        form = {"username": user.username, "password": DEFAULT_PASSWORD}
        assert client.post("/token", data=form).status_code == 200
        statuses = [client.get("/readyz").status_code for _ in range(50)]
    assert statuses == [200] * 50
    lines = access_lines(logs)
    assert len(lines) == 51
    assert all(re.fullmatch(r"[0-9a-f]{32}", line["trace_id"]) for line in lines)


@pytest.mark.usefixtures("no_otel")
def test_unsupported_exporter_settings_are_refused_by_name(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_PROTOCOL='grpc' is not supported"):
        create_app(make_settings(database_url))
