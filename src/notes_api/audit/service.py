"""Recording and reading audit events.

`record` only adds the event to the caller's session: it is committed in the
same transaction as the change it describes, or not at all. A hot path that writes
its rows in one statement (a login) inserts the event with `NEW_EVENT` and
`event_parameters` instead, in the same transaction all the same.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.actor import Actor
from notes_api.audit.models import AuditEvent
from notes_api.pagination import PageOfRows, paginate


class AuditAction(StrEnum):
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    REFRESH_REUSED = "refresh.reused"
    ROLE_GRANTED = "role.granted"
    ROLE_REVOKED = "role.revoked"
    ROLE_CREATED = "role.created"
    ROLE_DELETED = "role.deleted"
    USER_CREATED = "user.created"
    SIGNUP_REFUSED = "user.signup_refused"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    PASSWORD_CHANGED = "user.password_changed"  # noqa: S105 - an event name
    PERSONAL_TOKEN_CREATED = "personal_token.created"  # noqa: S105 - an event name
    PERSONAL_TOKEN_DELETED = "personal_token.deleted"  # noqa: S105 - an event name
    PASSWORD_CHANGE_FAILED = "user.password_change_failed"  # noqa: S105
    PASSWORD_RESET_MAILED = "user.password_reset_mailed"  # noqa: S105
    PASSWORD_RESET = "user.password_reset"  # noqa: S105
    SESSION_ENDED = "session.ended"
    SESSIONS_ENDED = "sessions.ended"
    LOGIN_MFA_REQUIRED = "login.mfa_required"
    MFA_ENROLLMENT_STARTED = "mfa.enrollment_started"
    MFA_ENABLED = "mfa.enabled"
    MFA_DISABLED = "mfa.disabled"
    MFA_RESET = "mfa.reset"
    MFA_CODE_REJECTED = "mfa.code_rejected"
    RECOVERY_CODE_USED = "mfa.recovery_code_used"


def record(
    db: AsyncSession,
    action: AuditAction,
    actor: Actor,
    *,
    target: str | None = None,
    **detail: Any,
) -> None:
    db.add(
        AuditEvent(
            action=action.value,
            actor_id=actor.id,
            target=target,
            client_ip=actor.client_ip,
            detail=detail,
        )
    )


NEW_EVENT = insert(AuditEvent).values(
    actor_id=bindparam("actor_id"),
    action=bindparam("action"),
    target=bindparam("target"),
    client_ip=bindparam("actor_ip"),
    detail=bindparam("detail"),
)
"""The event `record` adds, as a statement (built once) that runs with `event_parameters`.
The bind names are not column names of other tables, so the statement can be a part of a
larger one."""


def event_parameters(
    action: AuditAction, actor: Actor, *, target: str | None = None, **detail: Any
) -> dict[str, Any]:
    return {
        "actor_id": actor.id,
        "action": action.value,
        "target": target,
        "actor_ip": actor.client_ip,
        "detail": detail,
    }


async def list_events(
    db: AsyncSession, *, limit: int, before_id: int | None = None
) -> PageOfRows[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return paginate(list(await db.scalars(query)), limit, lambda event: event.id)
