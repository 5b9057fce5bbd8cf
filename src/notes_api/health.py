"""Liveness (`/healthz`, no database) and readiness (`/readyz`: database up, schema at head)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from notes_api.dependencies import Engine
from notes_api.exceptions import is_database_unavailable
from notes_api.routing import PrefixCheckedRoute
from notes_api.schema_migrations import current_revision, head_revision

router = APIRouter(route_class=PrefixCheckedRoute, tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    detail: str | None = None


@router.get("/healthz", response_model=Health, summary="The process is up (no database call)")
@router.head("/healthz", response_model=Health, include_in_schema=False)
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready"}},
    summary="The database answers and its schema is at the latest migration",
)
@router.head("/readyz", response_model=Readiness, include_in_schema=False)
async def readyz(engine: Engine, response: Response) -> Readiness:
    try:
        async with engine.connect() as connection:
            revision = await connection.run_sync(current_revision)
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Readiness(status="unavailable", detail="database unreachable")
    if revision != head_revision():
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Readiness(
            status="unavailable", detail="schema not migrated: run `notes-api migrate`"
        )
    return Readiness(status="ready")
