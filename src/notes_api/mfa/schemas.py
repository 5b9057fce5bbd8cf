from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from notes_api.schemas import RequestModel
from notes_api.validation import Text

Code = Annotated[Text, Field(min_length=1, max_length=64)]
"""A six-digit TOTP code or a recovery code; its shape is checked when it is compared, so a
malformed code is just a wrong code (400), like any other."""


class TotpEnrollment(BaseModel):
    """Shown once: the secret never leaves the server again."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class CodeRequest(RequestModel):
    code: Code


class RecoveryCodes(BaseModel):
    """Shown once; each works once, in place of a TOTP code."""

    recovery_codes: list[str]
