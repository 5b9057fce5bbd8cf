"""The reference for `GET /notes` and `GET /notes/{id}`: the same work in the fastest shape we know.

Same JWT check (the service's `AccessTokenCodec`, settings and role rule), the
same query as plain SQL on a psycopg async pool (autocommit: one round trip,
no BEGIN/ROLLBACK), the same keyset cursor and the same `NotePage` response
model, in a FastAPI app with nothing else: no SQLAlchemy, no middleware, no
exception handlers. `make bench` serves it as its own uvicorn process:

    BENCH_REFERENCE_DSN=postgresql://... JWT_SECRET_KEY=... uvicorn bench.reference:app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.security import OAuth2PasswordBearer
from psycopg_pool import AsyncConnectionPool

from bench.reference_login import login_router
from notes_api.auth.tokens import AccessTokenCodec, InvalidTokenError, TokenData
from notes_api.config import get_settings
from notes_api.notes.schemas import NotePage, NoteRead
from notes_api.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Cursor, paginate

ALLOWED_ROLES = frozenset({"user", "admin"})
POOL_SIZE = 10

LIST_SQL = (
    "SELECT id, owner_id, title, body, source, created_at, updated_at FROM notes "
    "WHERE owner_id = %s ORDER BY id DESC LIMIT %s"
)
LIST_BEFORE_SQL = (
    "SELECT id, owner_id, title, body, source, created_at, updated_at FROM notes "
    "WHERE owner_id = %s AND id < %s ORDER BY id DESC LIMIT %s"
)
ONE_SQL = (
    "SELECT id, owner_id, title, body, source, created_at, updated_at FROM notes "
    "WHERE id = %s AND owner_id = %s"
)
FIELDS = ("id", "owner_id", "title", "body", "source", "created_at", "updated_at")


def _dsn() -> str:
    url = os.environ.get("BENCH_REFERENCE_DSN") or get_settings().database_url
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


settings = get_settings()
codec = AccessTokenCodec(
    key=settings.signing_key(),
    algorithm=settings.jwt_algorithm,
    issuer=settings.token_issuer,
    audience=settings.jwt_audience,
    lifetime=timedelta(minutes=settings.access_token_expire_minutes),
)
pool = AsyncConnectionPool(
    _dsn(), min_size=POOL_SIZE, max_size=POOL_SIZE, open=False, kwargs={"autocommit": True}
)
bearer = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    await pool.open(wait=True)
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
app.include_router(login_router(pool, codec, settings))


async def token_data(token: Annotated[str | None, Depends(bearer)]) -> TokenData:
    if token is None:
        raise HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
    try:
        data = codec.decode(token)
    except InvalidTokenError:
        raise HTTPException(401, "Invalid token", headers={"WWW-Authenticate": "Bearer"}) from None
    if ALLOWED_ROLES.isdisjoint(data.roles):
        raise HTTPException(403, "Forbidden")
    return data


@app.get("/notes", response_model=NotePage)
async def list_notes(
    token: Annotated[TokenData, Depends(token_data)],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> NotePage:
    async with pool.connection() as connection:
        if cursor is None:
            result = await connection.execute(LIST_SQL, (token.id, limit + 1))
        else:
            result = await connection.execute(LIST_BEFORE_SQL, (token.id, cursor, limit + 1))
        rows = await result.fetchall()
    page = paginate(rows, limit, lambda row: row[0])
    return NotePage(
        items=[NoteRead.model_validate(dict(zip(FIELDS, row, strict=True))) for row in page.items],
        next_cursor=page.next_cursor,
    )


@app.get("/notes/{note_id}", response_model=NoteRead)
async def read_note(note_id: int, token: Annotated[TokenData, Depends(token_data)]) -> NoteRead:
    async with pool.connection() as connection:
        result = await connection.execute(ONE_SQL, (note_id, token.id))
        row = await result.fetchone()
    if row is None:
        raise HTTPException(404, "Note not found")
    return NoteRead.model_validate(dict(zip(FIELDS, row, strict=True)))


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
