"""Request and response bodies for notes, with the limits of the HTTP contract."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from notes_api.schemas import Page, RequestModel
from notes_api.validation import STORABLE, UtcDatetime

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
