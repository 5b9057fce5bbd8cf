"""Notes belong to their owner: others get the same 404 as for a missing note; admins get in."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.notes.conftest import Caller, MakeNote

MISSING_ID = 2**31 - 1


def test_other_users_note_reads_as_404_with_the_missing_note_body(
    client: TestClient, make_note: MakeNote, alice: Caller, bob: Caller
) -> None:
    note = make_note(alice)

    response = client.get(f"/notes/{note['id']}", headers=bob.headers)

    missing = client.get(f"/notes/{MISSING_ID}", headers=bob.headers)
    assert response.status_code == missing.status_code == 404
    assert response.json() == missing.json()
    assert response.headers.get("content-type") == missing.headers.get("content-type")


def test_other_users_note_cannot_be_patched(
    client: TestClient, make_note: MakeNote, alice: Caller, bob: Caller
) -> None:
    note = make_note(alice, title="Mine")

    response = client.patch(f"/notes/{note['id']}", json={"title": "Bob's"}, headers=bob.headers)

    missing = client.patch(f"/notes/{MISSING_ID}", json={"title": "Bob's"}, headers=bob.headers)
    assert response.status_code == 404
    assert response.json() == missing.json()
    assert client.get(f"/notes/{note['id']}", headers=alice.headers).json() == note


def test_other_users_note_cannot_be_deleted(
    client: TestClient, make_note: MakeNote, alice: Caller, bob: Caller
) -> None:
    note = make_note(alice)

    response = client.delete(f"/notes/{note['id']}", headers=bob.headers)

    missing = client.delete(f"/notes/{MISSING_ID}", headers=bob.headers)
    assert response.status_code == 404
    assert response.json() == missing.json()
    assert client.get(f"/notes/{note['id']}", headers=alice.headers).status_code == 200


def test_admin_reads_another_users_note(
    client: TestClient, make_note: MakeNote, alice: Caller, admin: Caller
) -> None:
    note = make_note(alice)

    response = client.get(f"/notes/{note['id']}", headers=admin.headers)

    assert response.status_code == 200
    assert response.json() == note


def test_admin_patches_another_users_note_which_keeps_its_owner(
    client: TestClient, make_note: MakeNote, alice: Caller, admin: Caller
) -> None:
    note = make_note(alice)

    response = client.patch(f"/notes/{note['id']}", json={"title": "Edited"}, headers=admin.headers)

    assert response.status_code == 200
    assert response.json()["title"] == "Edited"
    assert response.json()["owner_id"] == alice.id


def test_admin_deletes_another_users_note(
    client: TestClient, make_note: MakeNote, alice: Caller, admin: Caller
) -> None:
    note = make_note(alice)

    response = client.delete(f"/notes/{note['id']}", headers=admin.headers)

    assert response.status_code == 204
    assert client.get(f"/notes/{note['id']}", headers=alice.headers).status_code == 404


def test_patch_cannot_change_the_owner(
    client: TestClient, make_note: MakeNote, alice: Caller, bob: Caller
) -> None:
    note = make_note(alice)

    response = client.patch(
        f"/notes/{note['id']}", json={"owner_id": bob.id}, headers=alice.headers
    )

    assert response.status_code == 422
    assert client.get(f"/notes/{note['id']}", headers=alice.headers).json()["owner_id"] == alice.id


def test_empty_patch_of_other_users_note_is_404_and_reveals_nothing(
    client: TestClient, make_note: MakeNote, alice: Caller, bob: Caller
) -> None:
    """An empty PATCH writes nothing but reads the note back: that read keeps the owner scope."""
    note = make_note(alice, title="Private", body="secret body")

    response = client.patch(f"/notes/{note['id']}", json={}, headers=bob.headers)

    missing = client.patch(f"/notes/{MISSING_ID}", json={}, headers=bob.headers)
    assert response.status_code == 404
    assert response.json() == missing.json()
    assert "secret body" not in response.text


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"title": "Bob's"}), ("PATCH", {}), ("DELETE", None)],
    ids=["read", "patch", "empty-patch", "delete"],
)
def test_other_users_note_is_404_note_not_found(
    client: TestClient,
    make_note: MakeNote,
    alice: Caller,
    bob: Caller,
    method: str,
    body: dict[str, str] | None,
) -> None:
    """The body says what is missing (the same words as for a note that does not exist)."""
    note = make_note(alice)

    response = client.request(method, f"/notes/{note['id']}", json=body, headers=bob.headers)

    assert response.status_code == 404
    assert response.json() == {"detail": "Note not found"}
