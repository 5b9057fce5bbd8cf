from __future__ import annotations

from pydantic import BaseModel


class Identity(BaseModel):
    id: int
    username: str
    roles: list[str]
