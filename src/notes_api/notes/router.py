"""Notes: every user keeps their own; administrators may read and change anyone's."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BeforeValidator, WithJsonSchema

from notes_api.auth.authorize import authorize, insufficient_user_authentication
from notes_api.auth.dependencies import CurrentToken
from notes_api.auth.roles import BuiltinRole
from notes_api.auth.tokens import TokenData
from notes_api.dependencies import DbSession, ReadDb
from notes_api.exceptions import ForbiddenError
from notes_api.notes import service
from notes_api.notes.schemas import (
    NoteCreate,
    NotePage,
    NoteRead,
    NoteUpdate,
    Source,
    note_json,
    note_page_json,
)
from notes_api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit
from notes_api.routing import PrefixCheckedRoute
from notes_api.users.admin_actor import AdminPowers
from notes_api.validation import DATABASE_INT_MAX, DatabaseId

router = APIRouter(route_class=PrefixCheckedRoute, tags=["notes"])

NOTE_KEEPERS = (BuiltinRole.USER, BuiltinRole.ADMIN)

ALL_OWNERS = "all"

ONE_NOTE_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "No such note, or someone else's (never told apart)"},
}


def _parse_owner(value: object) -> int | str | None:
    """`all` or a user id in the database's range; anything else is a 422 on `owner`."""
    if value is None:
        return None
    if value == ALL_OWNERS:
        return ALL_OWNERS
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        user_id = int(value)
        if 0 < user_id <= DATABASE_INT_MAX:
            return user_id
    raise ValueError(f"must be {ALL_OWNERS!r} or a user id")


Owner = Annotated[
    int | Literal["all"] | None,
    BeforeValidator(_parse_owner),
    WithJsonSchema({"type": "string", "description": "'all' or a user id"}),
    Query(description="Administrators only: whose notes to list, 'all' or a user id"),
]
SourceFilter = Annotated[Source | None, Query(description="Only notes with exactly this source")]


class JSONBytes(Response):
    """JSON written by the schemas (`note_json`, `note_page_json`); the route's
    `response_model` still documents it in OpenAPI."""

    media_type = "application/json"


def _is_admin(token: TokenData) -> bool:
    return BuiltinRole.ADMIN in token.roles


def _scope(token: TokenData) -> int | None:
    """The owner a reader is confined to; None for administrators, who see every note."""
    return None if _is_admin(token) else token.id


def _write_scope(token: TokenData, admin: bool) -> int | None:
    """The owner a writer is confined to; None for an administrator re-checked in the
    database (`AdminPowers`), whose stale token must not change other users' notes."""
    return None if admin else token.id


def _listed_owner(owner: int | Literal["all"] | None, token: TokenData) -> int | None:
    """Whose notes `GET /notes` lists: the caller's, or for administrators `owner` (None: all)."""
    if owner is None:
        return token.id
    if not _is_admin(token):
        if BuiltinRole.ADMIN in token.withheld_roles:  # an administrator without the second factor
            raise insufficient_user_authentication([BuiltinRole.ADMIN])
        raise ForbiddenError("Only administrators may pass owner")
    return owner if isinstance(owner, int) else None


@router.post("/notes", response_model=NoteRead, status_code=201)
@authorize(roles=NOTE_KEEPERS)
async def create_note(
    payload: NoteCreate, db: DbSession, token: CurrentToken, response: Response
) -> NoteRead:
    note = await service.create_note(
        db, owner_id=token.id, title=payload.title, body=payload.body, source=payload.source
    )
    response.headers["Location"] = f"/notes/{note.id}"
    return NoteRead.model_validate(note)


@router.get("/notes", response_model=NotePage)
@authorize(roles=NOTE_KEEPERS)
async def list_notes(
    db: ReadDb,
    token: CurrentToken,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    source: SourceFilter = None,
    owner: Owner = None,
) -> Response:
    """The caller's notes, newest first; administrators may pass `owner`."""
    page = await service.list_notes(
        db, owner_id=_listed_owner(owner, token), source=source, limit=limit, before_id=cursor
    )
    return JSONBytes(note_page_json(page.items, page.next_cursor))


@router.get("/notes/{note_id}", response_model=NoteRead, responses=ONE_NOTE_ERRORS)
@authorize(roles=NOTE_KEEPERS)
async def read_note(note_id: DatabaseId, db: ReadDb, token: CurrentToken) -> Response:
    return JSONBytes(note_json(await service.get_note_row(db, note_id, owner_id=_scope(token))))


@router.patch("/notes/{note_id}", response_model=NoteRead, responses=ONE_NOTE_ERRORS)
@authorize(roles=NOTE_KEEPERS)
async def update_note(
    note_id: DatabaseId, payload: NoteUpdate, db: DbSession, token: CurrentToken, admin: AdminPowers
) -> NoteRead:
    changes = payload.model_dump(exclude_unset=True)
    note = await service.update_note(db, note_id, changes, owner_id=_write_scope(token, admin))
    return NoteRead.model_validate(note)


@router.delete("/notes/{note_id}", status_code=204, responses=ONE_NOTE_ERRORS)
@authorize(roles=NOTE_KEEPERS)
async def delete_note(
    note_id: DatabaseId, db: DbSession, token: CurrentToken, admin: AdminPowers
) -> None:
    await service.delete_note(db, note_id, owner_id=_write_scope(token, admin))
