"""Create, read, update and delete one's own notes."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.notes.conftest import Caller, MakeNote


def test_create_note_answers_201_with_location_and_the_note(
    client: TestClient, alice: Caller
) -> None:
    response = client.post(
        "/notes",
        json={"title": "Groceries", "body": "milk", "source": "a.pdf"},
        headers=alice.headers,
    )

    assert response.status_code == 201
    note = response.json()
    assert response.headers["Location"] == f"/notes/{note['id']}"
    assert note["owner_id"] == alice.id
    assert (note["title"], note["body"], note["source"]) == ("Groceries", "milk", "a.pdf")
    assert set(note) == {"id", "owner_id", "title", "body", "source", "created_at", "updated_at"}


def test_create_note_defaults_to_an_empty_body_and_no_source(
    make_note: MakeNote, alice: Caller
) -> None:
    note = make_note(alice, title="Only a title")

    assert note["body"] == ""
    assert note["source"] is None


def test_note_timestamps_are_utc(make_note: MakeNote, alice: Caller) -> None:
    note = make_note(alice)

    for field in ("created_at", "updated_at"):
        assert datetime.fromisoformat(note[field]).utcoffset() == timedelta(0), note[field]


def test_created_note_reads_back_unchanged(
    client: TestClient, make_note: MakeNote, alice: Caller
) -> None:
    note = make_note(alice, title="Kept", body="as is", source="doc")

    response = client.get(f"/notes/{note['id']}", headers=alice.headers)

    assert response.status_code == 200
    assert response.json() == note


def test_read_missing_note_is_404(client: TestClient, alice: Caller) -> None:
    response = client.get("/notes/12345", headers=alice.headers)

    assert response.status_code == 404
    assert response.json() == {"detail": "Note not found"}


def test_patch_changes_only_the_fields_sent(
    client: TestClient, make_note: MakeNote, alice: Caller
) -> None:
    note = make_note(alice, title="Title", body="old body", source="doc")

    response = client.patch(
        f"/notes/{note['id']}", json={"body": "new body"}, headers=alice.headers
    )

    assert response.status_code == 200
    patched = response.json()
    assert (patched["title"], patched["body"], patched["source"]) == ("Title", "new body", "doc")
    assert client.get(f"/notes/{note['id']}", headers=alice.headers).json() == patched


def test_patch_sets_source_to_null(client: TestClient, make_note: MakeNote, alice: Caller) -> None:
    note = make_note(alice, source="doc")

    response = client.patch(f"/notes/{note['id']}", json={"source": None}, headers=alice.headers)

    assert response.status_code == 200
    assert response.json()["source"] is None


def test_patch_refuses_a_null_title(client: TestClient, make_note: MakeNote, alice: Caller) -> None:
    note = make_note(alice, title="Stays")

    response = client.patch(f"/notes/{note['id']}", json={"title": None}, headers=alice.headers)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "title"]
    assert client.get(f"/notes/{note['id']}", headers=alice.headers).json()["title"] == "Stays"


def test_patch_refuses_a_null_body(client: TestClient, make_note: MakeNote, alice: Caller) -> None:
    note = make_note(alice)

    response = client.patch(f"/notes/{note['id']}", json={"body": None}, headers=alice.headers)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "body"]


def backdate(db_engine: Engine, note_id: int) -> None:
    """Set both timestamps to 2001, so that a change made now is visible at any resolution."""
    with db_engine.begin() as connection:
        connection.execute(
            text("UPDATE notes SET created_at = :t, updated_at = :t WHERE id = :id"),
            {"t": "2001-06-15 12:00:00", "id": note_id},
        )


def test_patch_bumps_updated_at_and_keeps_created_at(
    client: TestClient, make_note: MakeNote, alice: Caller, db_engine: Engine
) -> None:
    note = make_note(alice)
    backdate(db_engine, note["id"])

    patched = client.patch(f"/notes/{note['id']}", json={"title": "New"}, headers=alice.headers)

    assert patched.status_code == 200
    assert datetime.fromisoformat(patched.json()["created_at"]).year == 2001
    assert datetime.fromisoformat(patched.json()["updated_at"]).year > 2001


def test_empty_patch_changes_nothing_not_even_updated_at(
    client: TestClient, make_note: MakeNote, alice: Caller, db_engine: Engine
) -> None:
    note = make_note(alice, title="Same")
    backdate(db_engine, note["id"])

    patched = client.patch(f"/notes/{note['id']}", json={}, headers=alice.headers)

    assert patched.status_code == 200
    assert patched.json()["title"] == "Same"
    assert datetime.fromisoformat(patched.json()["updated_at"]).year == 2001


def test_delete_note_answers_204_and_the_note_is_gone(
    client: TestClient, make_note: MakeNote, alice: Caller
) -> None:
    note = make_note(alice)

    response = client.delete(f"/notes/{note['id']}", headers=alice.headers)

    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"/notes/{note['id']}", headers=alice.headers).status_code == 404


def test_delete_missing_note_is_404(client: TestClient, alice: Caller) -> None:
    assert client.delete("/notes/12345", headers=alice.headers).status_code == 404


def test_admin_keeps_notes_of_their_own(
    client: TestClient, make_note: MakeNote, admin: Caller
) -> None:
    note = make_note(admin)

    assert note["owner_id"] == admin.id
    assert client.get(f"/notes/{note['id']}", headers=admin.headers).status_code == 200
