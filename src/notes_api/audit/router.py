"""`GET /audit`: the audit trail, newest first, for administrators."""

from __future__ import annotations

from fastapi import APIRouter

from notes_api.audit import service
from notes_api.audit.schemas import AuditPage
from notes_api.auth.authorize import authorize
from notes_api.auth.roles import BuiltinRole
from notes_api.dependencies import DbSession
from notes_api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit
from notes_api.routing import PrefixCheckedRoute

router = APIRouter(route_class=PrefixCheckedRoute, tags=["audit"])


@router.get("/audit", response_model=AuditPage, summary="Authentication and role events")
@authorize(roles=BuiltinRole.ADMIN)
async def list_audit_events(
    db: DbSession, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> AuditPage:
    return AuditPage.of(await service.list_events(db, limit=limit, before_id=cursor))
