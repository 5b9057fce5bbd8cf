"""Base models every domain's schemas build on: request bodies and pages."""

from __future__ import annotations

from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict

from notes_api.pagination import PageOfRows

Item = TypeVar("Item", bound=BaseModel)


class RequestModel(BaseModel):
    """Request bodies refuse unknown fields: a typo is a 422, not a silently ignored value."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[Item]):
    """One page of a listing; `next_cursor` is None on the last page.

    Subclass it per item type (`class NotePage(Page[NoteRead])`) so OpenAPI
    names the schema after the domain.
    """

    items: list[Item]
    next_cursor: str | None

    @classmethod
    def of(cls, page: PageOfRows[Any]) -> Self:
        """The response for a page of rows: each row read through its attributes."""
        return cls.model_validate(page, from_attributes=True)
