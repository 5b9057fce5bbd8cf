"""Helpers for the notes tests: callers with tokens, and notes created through the API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import MakeUser, bearer, login


@dataclass
class Caller:
    id: int
    headers: dict[str, str]


MakeCaller = Callable[..., Caller]
MakeNote = Callable[..., dict[str, Any]]


@pytest.fixture
def make_caller(client: TestClient, make_user: MakeUser) -> MakeCaller:
    """`make_caller(roles=["admin"])`: a new user with those roles, its id and auth headers."""

    def make(roles: list[str] | tuple[str, ...] = ("user",)) -> Caller:
        user = make_user(roles=roles)
        return Caller(id=user.id, headers=bearer(login(client, user.username)["access_token"]))

    return make


@pytest.fixture
def alice(make_caller: MakeCaller) -> Caller:
    return make_caller()


@pytest.fixture
def bob(make_caller: MakeCaller) -> Caller:
    return make_caller()


@pytest.fixture
def admin(make_caller: MakeCaller) -> Caller:
    return make_caller(roles=["admin"])


@pytest.fixture
def make_note(client: TestClient) -> MakeNote:
    """`make_note(caller, title=..., source=...)`: POST /notes, asserting it was created."""

    def make(caller: Caller, title: str = "A note", **fields: Any) -> dict[str, Any]:
        response = client.post("/notes", json={"title": title, **fields}, headers=caller.headers)
        assert response.status_code == 201, response.text
        note: dict[str, Any] = response.json()
        return note

    return make


def note_ids(client: TestClient, caller: Caller, **params: Any) -> list[int]:
    """Ids on one page of GET /notes with `params`, asserting it answered 200."""
    response = client.get("/notes", params=params, headers=caller.headers)
    assert response.status_code == 200, response.text
    return [note["id"] for note in response.json()["items"]]
