from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from notes_api.auth.roles import BuiltinRole
from notes_api.schemas import Page, RequestModel
from notes_api.validation import Email, Password, RoleName, Text, Username, UtcDatetime


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
    roles: list[RoleName] = Field(default_factory=lambda: [BuiltinRole.USER.value], max_length=64)


class SignupRequest(RequestModel):
    username: Username
    email: Email | None = None
    password: Password


SIGNUP_ACCEPTED = (
    "Sign-up received. If the username and email were free, the account exists now: "
    "log in with the password you chose. Otherwise choose another username."
)


class SignupAccepted(BaseModel):
    """The one answer to every well-formed sign-up, whether or not it created an account."""

    detail: str = SIGNUP_ACCEPTED


class UserUpdate(RequestModel):
    email: Email | None = None
    password: Password | None = None
    disabled: StrictBool | None = None  # true or false: not 0, 1 or "yes", which lax mode takes


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    email: str | None
    disabled: bool
    created_at: UtcDatetime
    roles: list[str] = Field(validation_alias="role_names")


class UserPage(Page[UserRead]):
    pass
