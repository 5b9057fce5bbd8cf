"""Request and response bodies of `/account/tokens`."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from notes_api.auth.tokens import split_roles
from notes_api.schemas import RequestModel
from notes_api.validation import RoleName, Text, UtcDatetime

MAX_LIFETIME_DAYS = 365
DEFAULT_LIFETIME_DAYS = 30


class PersonalTokenCreate(RequestModel):
    name: Text = Field(min_length=1, max_length=100)
    """What the token is for ("prometheus", "nightly backup"), to recognise it in the list."""
    roles: list[RoleName] | None = Field(default=None, max_length=64)
    """A subset of the caller's current roles; omitted: all of them."""
    expires_in_days: int = Field(default=DEFAULT_LIFETIME_DAYS, ge=1, le=MAX_LIFETIME_DAYS)


class PersonalTokenRead(BaseModel):
    id: int
    name: str
    roles: list[str]
    created_at: UtcDatetime
    expires_at: UtcDatetime
    last_used_at: UtcDatetime | None

    @field_validator("roles", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_roles(value) if isinstance(value, str) else value


class PersonalTokenCreated(PersonalTokenRead):
    token: str
    """The token itself: shown in this answer only, never again."""
