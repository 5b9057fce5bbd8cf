"""The API contract as served, compared with the committed docs/openapi.json, so a changed
contract shows in review as a diff of that file. After an intended change: `make openapi`
(UPDATE_OPENAPI=1 rewrites the file), then read the diff before committing it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fastapi.testclient import TestClient

from notes_api.config import Settings
from notes_api.main import create_app
from tests.conftest import TEST_SECRET

SNAPSHOT = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def served_schema(tmp_path: Path) -> dict[str, object]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        jwt_secret_key=TEST_SECRET,
        docs_enabled=True,
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, object] = response.json()
    return schema


def test_the_served_schema_is_the_committed_one(tmp_path: Path) -> None:
    served = served_schema(tmp_path)
    if os.environ.get("UPDATE_OPENAPI") == "1":
        SNAPSHOT.write_text(json.dumps(served, indent=2, ensure_ascii=False) + "\n")
    committed = json.loads(SNAPSHOT.read_text())
    assert served == committed, (
        "the API contract changed: run `make openapi` and review the diff of docs/openapi.json"
    )
