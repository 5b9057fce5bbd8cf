"""Opaque keyset cursors: the id of the last row of a page, base64url-encoded.

A cursor only says where a page starts; every query still filters by what the
caller may see, so a forged cursor can at most skip rows the caller could read
anyway. Anything that does not decode to a valid id is a 422 on `cursor`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BeforeValidator, WithJsonSchema

from notes_api.validation import DATABASE_INT_MAX

_PREFIX = "id:"
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_CURSOR_LENGTH = 32
"""Longer than any cursor `encode_cursor` writes (the largest id takes 18 characters)."""

Row = TypeVar("Row")


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_CURSOR_LENGTH:
        raise ValueError("invalid cursor")
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("invalid cursor") from None
    digits = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not digits.isdigit() or not digits.isascii():
        raise ValueError("invalid cursor")
    last_id = int(digits)
    if not 0 < last_id <= DATABASE_INT_MAX:
        raise ValueError("invalid cursor")
    return last_id


Cursor = Annotated[
    int | None,
    BeforeValidator(decode_cursor),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_CURSOR_LENGTH,
            "pattern": "^[A-Za-z0-9_-]+$",  # base64url, unpadded, as encode_cursor writes it
            "description": "next_cursor from the previous page",
        }
    ),
    Query(description="Opaque cursor: next_cursor from the previous page"),
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")]


@dataclass(frozen=True)
class PageOfRows(Generic[Row]):
    """What a service returns for one page: rows (ORM objects or Core rows) and the cursor
    after them; `schemas.Page.of` turns it into the response model."""

    items: list[Row]
    next_cursor: str | None


def paginate(rows: Sequence[Row], limit: int, row_id: Callable[[Row], int]) -> PageOfRows[Row]:
    """Split `limit + 1` fetched rows into a page and the cursor after it, if more exist."""
    items = list(rows[:limit])
    cursor = encode_cursor(row_id(items[-1])) if len(rows) > limit else None
    return PageOfRows(items=items, next_cursor=cursor)
