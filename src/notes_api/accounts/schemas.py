"""Request and response bodies of `/account/*` and `/users/{id}/sessions`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from notes_api.schemas import RequestModel
from notes_api.validation import Email, Password, Text, Username, UtcDatetime


class MfaState(BaseModel):
    totp: bool = False
    recovery_codes_left: int = 0


class AccountRead(BaseModel):
    id: int
    username: str
    email: str | None
    roles: list[str]
    mfa: MfaState = Field(default_factory=MfaState)


class PasswordChange(RequestModel):
    current_password: Text = Field(max_length=1024)
    new_password: Password


class ForgotPassword(RequestModel):
    """`{"email": ...}` or `{"username": ...}`: exactly one."""

    # Exactly one of the two, for clients reading the schema: the validator below decides.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": [name], "properties": {name: {"type": "string"}}}
                for name in ("email", "username")
            ]
        }
    )

    email: Email | None = None
    username: Username | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ForgotPassword:
        if (self.email is None) == (self.username is None):
            raise ValueError("send either email or username")
        return self


class PasswordReset(RequestModel):
    token: str
    """Any string: a malformed token, however long, is a 400 like an unknown one (DESIGN), so
    the client cannot tell a typo from an expired link, nor needs to. Its length is bounded
    by the request body's (1 MiB, 413 before parsing), and the service looks at no more than
    its first 44 characters before refusing it."""
    new_password: Password


class SessionRead(BaseModel):
    id: str
    created_at: UtcDatetime
    last_used_at: UtcDatetime
    expires_at: UtcDatetime
    client_ip: str | None
    user_agent: str | None
    amr: list[str]
    current: bool


class Accepted(BaseModel):
    detail: str = "If an enabled account with an email address matches, a reset link is on its way."
