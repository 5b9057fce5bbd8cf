from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from notes_api.schemas import Page
from notes_api.validation import UtcDatetime


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: UtcDatetime
    actor_id: int | None
    action: str
    target: str | None
    client_ip: str | None
    detail: dict[str, Any] | None


class AuditPage(Page[AuditEventRead]):
    pass
