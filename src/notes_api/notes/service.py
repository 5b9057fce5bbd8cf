"""Use cases for notes. Each public function is one unit of work: it commits, or raises.
`get_*` raises `NotFoundError` when nothing matches (there is no `find_*` here).

`owner_id` scopes every lookup: a note outside the scope is reported exactly
like a missing one, so nobody learns which ids other users hold. `None` means
every owner (administrators).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, delete, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.database import Reader
from notes_api.exceptions import NotFoundError
from notes_api.notes.models import Note
from notes_api.notes.schemas import NOTE_FIELDS
from notes_api.pagination import PageOfRows, paginate

NOT_FOUND = "Note not found"
"""One message for every note the caller cannot see, whatever the id."""

_COLUMNS = tuple(getattr(Note, name) for name in NOTE_FIELDS)
"""What the reads select: the response model's fields, in its order."""

NoteRow = tuple[int, int, str, str, str | None, datetime, datetime]
"""One row of `_COLUMNS`, what the reads return instead of ORM objects."""
NoteSelect = Select[int, int, str, str, str | None, datetime, datetime]


def _visible(note_id: int, owner_id: int | None) -> ColumnElement[bool]:
    scope = true() if owner_id is None else Note.owner_id == owner_id
    return (Note.id == note_id) & scope


async def create_note(
    db: AsyncSession, *, owner_id: int, title: str, body: str, source: str | None
) -> Note:
    """Insert and read back the server-set timestamps in one statement (RETURNING)."""
    result = await db.execute(
        insert(Note)
        .values(owner_id=owner_id, title=title, body=body, source=source)
        .returning(Note)
    )
    note = result.scalar_one()
    await db.commit()
    return note


async def get_note(db: AsyncSession, note_id: int, *, owner_id: int | None) -> Note:
    note = await db.scalar(select(Note).where(_visible(note_id, owner_id)))
    if note is None:
        raise NotFoundError(NOT_FOUND)
    return note


async def update_note(
    db: AsyncSession, note_id: int, changes: dict[str, Any], *, owner_id: int | None
) -> Note:
    """Apply `changes` (column name to value); the model's `onupdate` bumps `updated_at`.

    No changes, no write: an empty PATCH leaves `updated_at` alone.
    """
    if not changes:
        return await get_note(db, note_id, owner_id=owner_id)
    note: Note | None = await db.scalar(
        update(Note).where(_visible(note_id, owner_id)).values(**changes).returning(Note)
    )
    if note is None:
        raise NotFoundError(NOT_FOUND)
    await db.commit()
    return note


async def delete_note(db: AsyncSession, note_id: int, *, owner_id: int | None) -> None:
    deleted = await db.scalar(delete(Note).where(_visible(note_id, owner_id)).returning(Note.id))
    if deleted is None:
        raise NotFoundError(NOT_FOUND)
    await db.commit()


async def get_note_row(reader: Reader, note_id: int, *, owner_id: int | None) -> NoteRow:
    """One note as a row (GET /notes/{id}): a Core select on a read-only connection."""
    parameters: dict[str, Any] = {"note_id": note_id}
    if owner_id is not None:
        parameters["owner_id"] = owner_id
    rows = await reader.all(_one_note(owner_id is not None), parameters)
    if not rows:
        raise NotFoundError(NOT_FOUND)
    return rows[0]


async def list_notes(
    reader: Reader,
    *,
    owner_id: int | None,
    source: str | None = None,
    limit: int,
    before_id: int | None = None,
) -> PageOfRows[NoteRow]:
    """Newest first, `limit` at a time: one index range scan, no COUNT.

    Keyset on id, highest first: notes created while a client pages get higher
    ids than any it has seen, so they never shift later pages (no duplicates,
    no gaps). Indexes (owner_id, id), (owner_id, source, id) and (source, id)
    serve each combination of filters.
    """
    parameters: dict[str, Any] = {"limit": limit + 1}
    if owner_id is not None:
        parameters["owner_id"] = owner_id
    if source is not None:
        parameters["source"] = source
    if before_id is not None:
        parameters["before_id"] = before_id
    query = _listing(owner_id is not None, source is not None, before_id is not None)
    rows = await reader.all(query, parameters)
    return paginate(rows, limit, lambda row: row[0])


def _build_listing(by_owner: bool, by_source: bool, before: bool) -> NoteSelect:
    """The listing statement for one combination of filters, built once.

    Values travel as bound parameters, so every request reuses one statement
    object, whose SQLAlchemy cache key and compiled SQL are computed once.
    """
    query = select(*_COLUMNS).order_by(Note.id.desc()).limit(bindparam("limit"))
    if by_owner:
        query = query.where(Note.owner_id == bindparam("owner_id"))
    if by_source:
        query = query.where(Note.source == bindparam("source"))
    if before:
        query = query.where(Note.id < bindparam("before_id"))
    return query


def _build_one_note(by_owner: bool) -> NoteSelect:
    query = select(*_COLUMNS).where(Note.id == bindparam("note_id"))
    if by_owner:
        query = query.where(Note.owner_id == bindparam("owner_id"))
    return query


# Cached by wrapping rather than by decorator: mutmut (`make mutate`) skips decorated
# functions, and these two hold the owner scoping.
_listing = cache(_build_listing)
_one_note = cache(_build_one_note)
