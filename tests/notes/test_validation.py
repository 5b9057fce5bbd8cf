"""Bad input is a 422 naming the field, before any query runs; limits are inclusive."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Headers
from tests.notes.conftest import Caller, MakeNote

TOO_BIG_ID = 2**31


def error_locations(response: Any) -> list[list[str | int]]:
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["detail"]]


def forged_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "", "!!!", forged_cursor("id:0"), forged_cursor(f"id:{TOO_BIG_ID}"), "a" * 40],
)
def test_list_with_a_bad_cursor_is_422_on_cursor(
    client: TestClient, alice: Caller, cursor: str
) -> None:
    response = client.get("/notes", params={"cursor": cursor}, headers=alice.headers)

    assert error_locations(response) == [["query", "cursor"]]


@pytest.mark.parametrize("owner", ["everyone", "ALL", "", "0", "-1", "1.5", str(TOO_BIG_ID), "٣"])
def test_list_with_a_bad_owner_is_422_on_owner(
    client: TestClient, admin: Caller, owner: str
) -> None:
    response = client.get("/notes", params={"owner": owner}, headers=admin.headers)

    assert error_locations(response) == [["query", "owner"]]


def test_list_with_the_largest_owner_id_is_accepted(client: TestClient, admin: Caller) -> None:
    response = client.get("/notes", params={"owner": 2**31 - 1}, headers=admin.headers)

    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten"])
def test_list_with_a_bad_limit_is_422_on_limit(
    client: TestClient, alice: Caller, limit: str
) -> None:
    response = client.get("/notes", params={"limit": limit}, headers=alice.headers)

    assert error_locations(response) == [["query", "limit"]]


@pytest.mark.parametrize("limit", [1, 100])
def test_list_accepts_limits_at_the_bounds(
    client: TestClient, make_note: MakeNote, alice: Caller, limit: int
) -> None:
    make_note(alice)
    make_note(alice)

    response = client.get("/notes", params={"limit": limit}, headers=alice.headers)

    assert len(response.json()["items"]) == min(limit, 2)


@pytest.mark.parametrize("source", ["a\x00b", "s" * 513])
def test_list_with_a_bad_source_filter_is_422_on_source(
    client: TestClient, alice: Caller, source: str
) -> None:
    response = client.get("/notes", params={"source": source}, headers=alice.headers)

    assert error_locations(response) == [["query", "source"]]


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("note_id", [str(TOO_BIG_ID), "0", "-5", "abc", "9" * 40])
def test_note_id_outside_the_database_range_is_422_on_note_id(
    client: TestClient, alice: Caller, method: str, note_id: str
) -> None:
    body = {"title": "t"} if method == "PATCH" else None

    response = client.request(method, f"/notes/{note_id}", json=body, headers=alice.headers)

    assert error_locations(response) == [["path", "note_id"]]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", ""),
        ("title", "t" * 201),
        ("body", "b" * 100_001),
        ("source", "s" * 513),
        ("title", "a\x00b"),
        ("body", "a\x00b"),
        ("source", "a\x00b"),
        ("title", 42),
        ("title", None),
    ],
)
def test_create_with_an_invalid_field_is_422_naming_it(
    client: TestClient, alice: Caller, field: str, value: Any
) -> None:
    payload = {"title": "t", field: value}

    response = client.post("/notes", json=payload, headers=alice.headers)

    assert error_locations(response) == [["body", field]]


def test_create_without_a_title_is_422(client: TestClient, alice: Caller) -> None:
    response = client.post("/notes", json={"body": "no title"}, headers=alice.headers)

    assert error_locations(response) == [["body", "title"]]


def test_create_with_an_unknown_field_is_422(client: TestClient, alice: Caller) -> None:
    response = client.post("/notes", json={"title": "t", "tags": ["x"]}, headers=alice.headers)

    assert error_locations(response) == [["body", "tags"]]


def test_create_accepts_fields_at_their_maximum_length(client: TestClient, alice: Caller) -> None:
    payload = {"title": "t" * 200, "body": "b" * 100_000, "source": "s" * 512}

    response = client.post("/notes", json=payload, headers=alice.headers)

    assert response.status_code == 201
    assert {field: response.json()[field] for field in payload} == payload


def test_create_keeps_non_ascii_text_intact(client: TestClient, alice: Caller) -> None:
    payload = {"title": "Ünïcødé ✓ 𝄞", "body": "日本語\n\ttabs", "source": "ü.pdf"}

    response = client.post("/notes", json=payload, headers=alice.headers)

    assert {field: response.json()[field] for field in payload} == payload


@pytest.mark.parametrize(
    ("field", "value"),
    [("title", ""), ("title", "t" * 201), ("body", "a\x00b"), ("source", "s" * 513)],
)
def test_patch_with_an_invalid_field_is_422_naming_it(
    client: TestClient, make_note: MakeNote, alice: Caller, field: str, value: Any
) -> None:
    note = make_note(alice)

    response = client.patch(f"/notes/{note['id']}", json={field: value}, headers=alice.headers)

    assert error_locations(response) == [["body", field]]


def test_patch_with_an_unknown_field_is_422(
    client: TestClient, make_note: MakeNote, alice: Caller
) -> None:
    note = make_note(alice)

    response = client.patch(f"/notes/{note['id']}", json={"pinned": True}, headers=alice.headers)

    assert error_locations(response) == [["body", "pinned"]]


@pytest.mark.parametrize("note_id", ["1_0", "+1", "1.0", "%201", "0x1", "\u0661"])
def test_ids_are_plain_digits(lenient: TestClient, auth_headers: Headers, note_id: str) -> None:
    response = lenient.get(f"/notes/{note_id}", headers=auth_headers())
    assert response.status_code == 422
