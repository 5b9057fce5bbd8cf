"""The API contract as served, compared with the committed docs/openapi.json, so a changed
contract shows in review as a diff of that file. After an intended change: `make openapi`
(UPDATE_OPENAPI=1 rewrites the file), then read the diff before committing it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from notes_api.config import Settings
from notes_api.main import create_app
from tests.conftest import TEST_SECRET
from tests.databases import fresh_sqlite

SNAPSHOT = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


@pytest.fixture
def served_schema(sqlite_template: Path, tmp_path: Path) -> dict[str, object]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        # Migrated: on an empty database start-up waits out the revocation feed's first load.
        database_url=fresh_sqlite(sqlite_template, tmp_path),
        jwt_secret_key=TEST_SECRET,
        docs_enabled=True,
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, object] = response.json()
    return schema


def test_the_served_schema_is_the_committed_one(served_schema: dict[str, object]) -> None:
    if os.environ.get("UPDATE_OPENAPI") == "1":
        SNAPSHOT.write_text(json.dumps(served_schema, indent=2, ensure_ascii=False) + "\n")
    committed = json.loads(SNAPSHOT.read_text())
    assert served_schema == committed, (
        "the API contract changed: run `make openapi` and review the diff of docs/openapi.json"
    )


SCHEMA_KEYWORDS = frozenset(
    # JSON Schema 2020-12, which OpenAPI 3.1 schemas are: core, applicator, validation,
    # format, content and meta-data vocabularies; then the OpenAPI additions.
    {"$ref", "$defs", "$schema", "$id", "$comment"}
    | {"allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas"}
    | {"prefixItems", "items", "contains", "properties", "patternProperties"}
    | {"additionalProperties", "propertyNames"}
    | {"type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum"}
    | {"exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems"}
    | {"uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties"}
    | {"required", "dependentRequired", "format"}
    | {"contentEncoding", "contentMediaType", "contentSchema"}
    | {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly"}
    | {"discriminator", "xml", "externalDocs", "example"}
)
SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
SUBSCHEMAS = ("not", "items", "contains", "additionalProperties", "propertyNames")


def schema_objects(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object of an OpenAPI document, nested ones included, with where it is."""

    def walk(where: str, schema: object) -> Iterator[tuple[str, dict[str, Any]]]:
        if not isinstance(schema, dict):
            return  # `true` / `false` schemas
        yield where, schema
        for key in SUBSCHEMA_LISTS:
            for index, item in enumerate(schema.get(key, [])):
                yield from walk(f"{where}/{key}/{index}", item)
        for key in SUBSCHEMAS:
            if key in schema:
                yield from walk(f"{where}/{key}", schema[key])
        for key in ("properties", "$defs", "patternProperties"):
            for name, item in schema.get(key, {}).items():
                yield from walk(f"{where}/{key}/{name}", item)

    for name, schema in document["components"]["schemas"].items():
        yield from walk(f"components/{name}", schema)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                yield from walk(f"{where} {parameter['name']}", parameter["schema"])
            bodies = [("body", operation.get("requestBody", {})), *operation["responses"].items()]
            for status, body in bodies:
                for media_type, content in body.get("content", {}).items():
                    yield from walk(f"{where} {status} {media_type}", content.get("schema"))


def test_every_schema_speaks_json_schema(served_schema: dict[str, object]) -> None:
    # A constraint pydantic could not place (`ge`, `le` beside a BeforeValidator) is written
    # out under its Python name, which no client generator, validator or fuzzer reads: the
    # path ids were published as unbounded integers.
    unknown = {
        where: sorted(set(schema) - SCHEMA_KEYWORDS)
        for where, schema in schema_objects(served_schema)
        if set(schema) - SCHEMA_KEYWORDS
    }
    assert unknown == {}
