"""The published JSON schema says what the API accepts."""

from __future__ import annotations

import pytest

from notes_api.notes.schemas import NoteUpdate


@pytest.mark.parametrize("field", ["title", "body"])
def test_patch_schema_does_not_offer_null_for_a_required_column(field: str) -> None:
    schema = NoteUpdate.model_json_schema()["properties"][field]

    assert schema["type"] == "string"
    assert "anyOf" not in schema


def test_patch_schema_offers_null_for_source() -> None:
    schema = NoteUpdate.model_json_schema()["properties"]["source"]

    assert {"type": "null"} in schema["anyOf"]
