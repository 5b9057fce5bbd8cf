"""Reusable, annotated field types shared by request schemas.

Every string a client sends is length-bounded and refused if it holds a NUL
character (PostgreSQL cannot store one) or an unpaired UTF-16 surrogate (no
database driver can encode one), so bad input is a 422 naming the field before
any query or hash runs.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from notes_api.clock import as_utc
from notes_api.email_address import MAX_LENGTH as EMAIL_MAX_LENGTH
from notes_api.email_address import SCHEMA_PATTERN as EMAIL_SCHEMA_PATTERN
from notes_api.email_address import is_plain_address

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._@-]{0,63}$"
ROLE_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 1024
DATABASE_INT_MAX = 2**31 - 1
"""Ids are 32-bit in both databases; a larger one can only be a 422, never a driver error."""


_USERNAME = re.compile(USERNAME_PATTERN)


def is_username(value: str) -> bool:
    """Whether `value` could name an account (case-insensitively): anything else is unknown
    without asking the database, which may not even accept it (NUL, oversized)."""
    return _USERNAME.fullmatch(value.lower()) is not None


def storable_username(value: str) -> str:
    """A claimed username made safe to store for counting and auditing, even when it
    names no account: lower-cased, NUL and unpaired surrogates replaced, at most 64 characters."""
    printable = value.lower().replace("\x00", "\ufffd")
    return printable.encode("utf-8", "replace").decode("utf-8")[:64]


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _refuse_unstorable(value: str) -> str:
    if _UNSTORABLE.search(value):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


def _refuse_unplain_address(value: str) -> str:
    # Never the value in the message: a validation error does not echo input.
    if not is_plain_address(value):
        raise ValueError(
            "must be one plain address (name@example.org): no spaces, quotes, brackets, "
            "commas, colons, semicolons or encoded words"
        )
    return value


def _strict_id(value: object) -> object:
    """Path ids are plain decimal digits: no sign, no underscores, no spaces, no `1.0`."""
    if isinstance(value, bool) or (
        isinstance(value, str) and not (value.isascii() and value.isdigit())
    ):
        raise ValueError("must be a positive whole number")
    return value


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


Text = Annotated[str, AfterValidator(_refuse_unstorable)]
"""Text without bounds; bounded text is `Annotated[str, Field(...), STORABLE]`."""

STORABLE = AfterValidator(_refuse_unstorable)
"""Put after a `Field(min_length=..., max_length=...)`: bounds placed after a validator apply
to any sized value, and a refusal then says "at least 8 items" instead of "characters"."""

Username = Annotated[
    str, BeforeValidator(_lower), Field(min_length=1, max_length=64, pattern=USERNAME_PATTERN)
]
RoleName = Annotated[str, Field(min_length=1, max_length=64, pattern=ROLE_NAME_PATTERN)]
Password = Annotated[
    str, Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH), STORABLE
]
Email = Annotated[
    str,
    BeforeValidator(_lower),
    # The pattern is documentation: `_refuse_unplain_address` decides, with a clearer message.
    Field(max_length=EMAIL_MAX_LENGTH, json_schema_extra={"pattern": EMAIL_SCHEMA_PATTERN}),
    STORABLE,
    AfterValidator(_refuse_unplain_address),
]
"""One plain address, or a 422 naming the field: see `notes_api.email_address`."""
DatabaseId = Annotated[int, Field(ge=1, le=DATABASE_INT_MAX), BeforeValidator(_strict_id)]
"""The bounds before the validator: they then constrain `int` itself, and the published schema
says `minimum` and `maximum`. After it, pydantic wrote them out as `ge` and `le`, keywords no
client, validator or fuzzer reads. The validator runs first either way."""


def utc_to_the_second(value: datetime) -> datetime:
    """SQLite stores whole seconds and PostgreSQL microseconds: answers use whole seconds on
    both, so one client sees one format (`2026-01-01T12:00:00Z`) whatever the database."""
    return as_utc(value).replace(microsecond=0)


UtcDatetime = Annotated[datetime, AfterValidator(utc_to_the_second)]
