from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from notes_api.main import create_app
from notes_api.schema_migrations import head_revision
from tests.conftest import make_settings

UNREACHABLE_POSTGRES = "postgresql+psycopg://notes@127.0.0.1:1/notes"
"""Port 1: nothing listens there, so every connection attempt is refused at once."""


def test_healthz_answers_without_a_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_on_a_migrated_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def test_readyz_is_503_when_the_schema_is_behind(client: TestClient, db_engine: Engine) -> None:
    set_revision = text("UPDATE alembic_version SET version_num = :revision")
    with db_engine.begin() as connection:
        connection.execute(set_revision, {"revision": "older"})
    try:
        response = client.get("/readyz")
    finally:  # the PostgreSQL test database is migrated once per session: put it back
        with db_engine.begin() as connection:
            connection.execute(set_revision, {"revision": head_revision()})
    assert response.status_code == 503
    assert "migrate" in response.json()["detail"]


def test_readyz_is_503_when_the_database_was_never_migrated(tmp_path: Path) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'empty.db'}"))
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "detail": "schema not migrated: run `notes-api migrate`",
    }


def test_readyz_is_503_json_when_postgresql_is_unreachable() -> None:
    with TestClient(create_app(make_settings(UNREACHABLE_POSTGRES))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "detail": "database unreachable"}


def test_healthz_answers_while_the_database_is_unreachable() -> None:
    with TestClient(create_app(make_settings(UNREACHABLE_POSTGRES))) as client:
        assert client.get("/healthz").status_code == 200


def test_lifespan_shutdown_disposes_the_engine_pool(app: FastAPI) -> None:
    """Graceful shutdown: uvicorn runs the lifespan's exit, which closes pooled connections."""
    pool = app.state.engine.sync_engine.pool
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        assert pool.checkedin() >= 1
    assert app.state.engine.sync_engine.pool.checkedin() == 0


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_answers_head(lenient: TestClient, path: str) -> None:
    assert lenient.head(path).status_code == 200
