from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from notes_api.validation import Email, Password, RoleName, Text, Username, UtcDatetime


class RequestModel(BaseModel):
    """Request bodies refuse unknown fields: a typo is a 422, not a silently ignored value."""

    model_config = ConfigDict(extra="forbid")


class RoleCreate(RequestModel):
    name: RoleName
    description: Text = Field(default="", max_length=255)


class RoleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    description: str


class UserCreate(RequestModel):
    username: Username
    email: Email | None = None
    password: Password
    roles: list[RoleName] = Field(default_factory=lambda: ["user"], max_length=64)


class SignupRequest(RequestModel):
    username: Username
    email: Email | None = None
    password: Password


class UserUpdate(RequestModel):
    email: Email | None = None
    password: Password | None = None
    disabled: bool | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    email: str | None
    disabled: bool
    created_at: UtcDatetime
    roles: list[str] = Field(validation_alias="role_names")


class UserPage(BaseModel):
    items: list[UserRead]
    next_cursor: str | None
