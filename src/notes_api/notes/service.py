"""Use cases for notes. Each public function is one unit of work: it commits, or raises.

`owner_id` scopes every lookup: a note outside the scope is reported exactly
like a missing one, so nobody learns which ids other users hold. `None` means
every owner (administrators).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, delete, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.errors import NotFoundError
from notes_api.notes.models import Note
from notes_api.pagination import Page, paginate

NOT_FOUND = "Note not found"
"""One message for every note the caller cannot see, whatever the id."""

_COLUMNS = (
    Note.id,
    Note.owner_id,
    Note.title,
    Note.body,
    Note.source,
    Note.created_at,
    Note.updated_at,
)

NoteRow = Row[int, int, str, str, str | None, datetime, datetime]
"""One row of `_COLUMNS`, what a listing returns instead of ORM objects."""


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


async def list_notes(
    db: AsyncSession,
    *,
    owner_id: int | None,
    source: str | None = None,
    limit: int,
    before_id: int | None = None,
) -> Page[NoteRow]:
    """Newest first, `limit` at a time: one index range scan, no COUNT.

    Keyset on id, highest first: notes created while a client pages get higher
    ids than any it has seen, so they never shift later pages (no duplicates,
    no gaps). Indexes (owner_id, id), (owner_id, source, id) and (source, id)
    serve each combination of filters.
    """
    query = select(*_COLUMNS).order_by(Note.id.desc()).limit(limit + 1)
    if owner_id is not None:
        query = query.where(Note.owner_id == owner_id)
    if source is not None:
        query = query.where(Note.source == source)
    if before_id is not None:
        query = query.where(Note.id < before_id)
    rows = (await db.execute(query)).all()
    return paginate(rows, limit, lambda row: row.id)
