"""Request and response bodies for notes, with the limits of the HTTP contract."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from pydantic.config import JsonDict
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from notes_api.schemas import Page, RequestModel
from notes_api.validation import STORABLE, UtcDatetime, utc_to_the_second

TITLE_MAX_LENGTH = 200
BODY_MAX_LENGTH = 100_000
SOURCE_MAX_LENGTH = 512

Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX_LENGTH), STORABLE]
Body = Annotated[str, Field(max_length=BODY_MAX_LENGTH), STORABLE]
Source = Annotated[str, Field(max_length=SOURCE_MAX_LENGTH), STORABLE]


def _not_nullable(schema: JsonDict) -> None:
    """Advertise only the string branch of a `str | None` field whose `None` means "not sent".

    (`SkipJsonSchema[None]` would do it too, but turns validation into a tagged
    union whose error locations name the union members instead of the field.)
    """
    branches = schema.pop("anyOf")
    assert isinstance(branches, list)  # noqa: S101 - pydantic's schema for `X | None`
    (string,) = (branch for branch in branches if branch != {"type": "null"})
    assert isinstance(string, dict)  # noqa: S101
    schema.update(string)


class NoteCreate(RequestModel):
    title: Title
    body: Body = ""
    source: Source | None = None


class NoteUpdate(RequestModel):
    """Partial update: only the fields sent change; `source: null` clears the source.

    `title` and `body` may be left out but not sent as null: their `None` only
    stands for "not sent", so it is refused and left out of the JSON schema.
    """

    title: Title | None = Field(default=None, json_schema_extra=_not_nullable)
    body: Body | None = Field(default=None, json_schema_extra=_not_nullable)
    source: Source | None = None

    @field_validator("title", "body")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class NoteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    owner_id: int
    title: str
    body: str
    source: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class NotePage(Page[NoteRead]):
    pass


NOTE_FIELDS = tuple(NoteRead.model_fields)
"""The order of a note row's columns (notes.service selects them in this order)."""


class _NoteJson(TypedDict):
    """`NoteRead` for serializing only: the rows are the database's, already valid."""

    id: int
    owner_id: int
    title: str
    body: str
    source: str | None
    created_at: datetime
    updated_at: datetime


class _NotePageJson(TypedDict):
    items: list[_NoteJson]
    next_cursor: str | None


# Typed loosely: they are handed dicts zipped from rows, which mypy cannot match to the keys.
_NOTE_JSON: TypeAdapter[Any] = TypeAdapter(_NoteJson)
_TIMESTAMPS = ("created_at", "updated_at")
_PAGE_JSON: TypeAdapter[Any] = TypeAdapter(_NotePageJson)


def _as_dict(row: Sequence[Any]) -> dict[str, Any]:
    """What `NoteRead` would hold: the same fields, timestamps as `UtcDatetime` makes them."""
    note = dict(zip(NOTE_FIELDS, row, strict=True))
    for name in _TIMESTAMPS:
        note[name] = utc_to_the_second(note[name])
    return note


def note_json(row: Sequence[Any]) -> bytes:
    """A note row (timestamps in UTC) as the JSON of `NoteRead`, without building the model.

    The read endpoints declare `NoteRead`/`NotePage` as their response model, for
    OpenAPI, and answer these bytes: pydantic-core writes them from plain dicts,
    where the model would first validate every field of every row again.
    """
    return _NOTE_JSON.dump_json(_as_dict(row))


def note_page_json(rows: Sequence[Sequence[Any]], next_cursor: str | None) -> bytes:
    """A page of note rows as the JSON of `NotePage` (see `note_json`)."""
    items = [_as_dict(row) for row in rows]
    return _PAGE_JSON.dump_json({"items": items, "next_cursor": next_cursor})
