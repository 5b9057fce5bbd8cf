"""Domain errors, raised by services and the command line, which know nothing of HTTP.

Each carries the status it maps to, so `exception_handlers` needs one handler
for all of them; the CLI prints the same `detail`. The two `is_*` helpers tell
apart the database failures that every layer reacts to.
"""

from __future__ import annotations

from http import HTTPStatus

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


class DomainError(Exception):
    status_code = HTTPStatus.BAD_REQUEST

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(DomainError):
    status_code = HTTPStatus.NOT_FOUND


class ConflictError(DomainError):
    status_code = HTTPStatus.CONFLICT


class ForbiddenError(DomainError):
    status_code = HTTPStatus.FORBIDDEN


def is_database_unavailable(exc: BaseException) -> bool:
    """Connection-level failures, as opposed to errors in a statement we sent."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, ConnectionError | OSError)


def is_missing_schema(exc: BaseException) -> bool:
    """A table is missing: the database was never migrated (PostgreSQL SQLSTATE 42P01)."""
    if not isinstance(exc, DBAPIError):
        return False
    return getattr(exc.orig, "sqlstate", None) == "42P01" or "no such table" in str(exc.orig)


def is_unique_violation(exc: IntegrityError) -> bool:
    """A UNIQUE constraint refused the write (PostgreSQL SQLSTATE 23505, or SQLite's message)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate == "23505" or str(exc.orig).startswith("UNIQUE constraint failed")
