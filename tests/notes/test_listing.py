"""GET /notes: the caller's notes newest first, keyset pages, `source` and (admins) `owner`."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.notes.conftest import Caller, MakeNote, note_ids


def test_list_shows_the_callers_notes_newest_first(
    client: TestClient, make_note: MakeNote, alice: Caller
) -> None:
    created = [make_note(alice, title=f"n{i}")["id"] for i in range(3)]

    assert note_ids(client, alice) == sorted(created, reverse=True)


def test_list_returns_items_and_next_cursor(
    client: TestClient, make_note: MakeNote, alice: Caller
) -> None:
    note = make_note(alice)

    response = client.get("/notes", headers=alice.headers)

    assert response.json() == {"items": [note], "next_cursor": None}


def test_list_leaves_out_other_users_notes(
    client: TestClient, make_note: MakeNote, alice: Caller, bob: Caller
) -> None:
    mine = make_note(alice)["id"]
    make_note(bob)

    assert note_ids(client, alice) == [mine]


def test_list_default_page_is_20_notes(
    client: TestClient, make_note: MakeNote, alice: Caller
) -> None:
    for i in range(21):
        make_note(alice, title=f"n{i}")

    response = client.get("/notes", headers=alice.headers)

    assert len(response.json()["items"]) == 20
    assert response.json()["next_cursor"] is not None


def test_list_pages_have_no_duplicates_or_gaps_while_notes_are_added(
    client: TestClient, make_note: MakeNote, alice: Caller
) -> None:
    existing = [make_note(alice, title=f"old {i}")["id"] for i in range(7)]
    seen: list[int] = []
    cursor: str | None = None
    for page in range(10):
        params = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        response = client.get("/notes", params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        seen += [note["id"] for note in response.json()["items"]]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
        make_note(alice, title=f"added after page {page}")

    assert seen == sorted(existing, reverse=True)
    assert cursor is None


def test_list_last_full_page_has_no_next_cursor(
    client: TestClient, make_note: MakeNote, alice: Caller
) -> None:
    for i in range(4):
        make_note(alice, title=f"n{i}")

    first = client.get("/notes", params={"limit": 2}, headers=alice.headers).json()
    second = client.get(
        "/notes", params={"limit": 2, "cursor": first["next_cursor"]}, headers=alice.headers
    ).json()

    assert len(second["items"]) == 2
    assert second["next_cursor"] is None


def test_list_filters_by_exact_source(
    client: TestClient, make_note: MakeNote, alice: Caller
) -> None:
    wanted = make_note(alice, source="report.pdf")["id"]
    make_note(alice, source="report.pdf#2")
    make_note(alice, source="REPORT.PDF")
    make_note(alice)

    assert note_ids(client, alice, source="report.pdf") == [wanted]


def test_list_source_filter_pages_by_cursor(
    client: TestClient, make_note: MakeNote, alice: Caller
) -> None:
    wanted = [make_note(alice, source="doc")["id"] for _ in range(3)]
    make_note(alice, source="other")

    first = client.get("/notes", params={"source": "doc", "limit": 2}, headers=alice.headers)
    rest = note_ids(client, alice, source="doc", cursor=first.json()["next_cursor"])

    assert [n["id"] for n in first.json()["items"]] + rest == sorted(wanted, reverse=True)


def test_admin_lists_every_note_with_owner_all(
    client: TestClient, make_note: MakeNote, alice: Caller, bob: Caller, admin: Caller
) -> None:
    ids = [make_note(alice)["id"], make_note(bob)["id"], make_note(admin)["id"]]

    assert note_ids(client, admin, owner="all") == sorted(ids, reverse=True)


def test_admin_lists_one_users_notes_with_owner_id(
    client: TestClient, make_note: MakeNote, alice: Caller, bob: Caller, admin: Caller
) -> None:
    make_note(alice)
    bobs = make_note(bob)["id"]

    assert note_ids(client, admin, owner=bob.id) == [bobs]


def test_admin_without_owner_lists_only_their_own_notes(
    client: TestClient, make_note: MakeNote, alice: Caller, admin: Caller
) -> None:
    make_note(alice)
    own = make_note(admin)["id"]

    assert note_ids(client, admin) == [own]


def test_admin_owner_all_combines_with_source(
    client: TestClient, make_note: MakeNote, alice: Caller, bob: Caller, admin: Caller
) -> None:
    ids = [make_note(alice, source="doc")["id"], make_note(bob, source="doc")["id"]]
    make_note(bob, source="other")

    assert note_ids(client, admin, owner="all", source="doc") == sorted(ids, reverse=True)


def test_admin_owner_all_pages_across_owners(
    client: TestClient, make_note: MakeNote, alice: Caller, bob: Caller, admin: Caller
) -> None:
    ids = [make_note(caller)["id"] for caller in (alice, bob, alice, bob)]

    first = client.get("/notes", params={"owner": "all", "limit": 3}, headers=admin.headers)
    rest = note_ids(client, admin, owner="all", cursor=first.json()["next_cursor"])

    assert [n["id"] for n in first.json()["items"]] + rest == sorted(ids, reverse=True)


@pytest.mark.parametrize("owner", ["all", "self", "other"])
def test_user_passing_owner_is_403(
    client: TestClient, alice: Caller, bob: Caller, owner: str
) -> None:
    value = {"self": str(alice.id), "other": str(bob.id)}.get(owner, owner)

    response = client.get("/notes", params={"owner": value}, headers=alice.headers)

    assert response.status_code == 403
