"""Domain errors and the handlers that turn every failure into a JSON response.

Services raise `NotFoundError` / `ConflictError` without knowing about HTTP;
the CLI prints the same errors. Database outages become 503 and anything
unexpected a bare 500 JSON body: never a traceback, SQL or driver text.

Database outages are handled by class (SQLAlchemy's DBAPIError and pool
timeout, OSError), not by the catch-all `Exception` handler: Starlette runs the
catch-all outside every middleware and re-raises the exception after answering,
so an outage would log a driver traceback per request and the access log would
not see the 503.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from fastapi import FastAPI, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ExceptionHandler

logger = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_SECONDS = 5


class DomainError(Exception):
    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(DomainError):
    status_code = status.HTTP_404_NOT_FOUND


class ConflictError(DomainError):
    status_code = status.HTTP_409_CONFLICT


class ForbiddenError(DomainError):
    status_code = status.HTTP_403_FORBIDDEN


def is_database_unavailable(exc: BaseException) -> bool:
    """Connection-level failures, as opposed to errors in a statement we sent."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, ConnectionError | OSError)


def database_unavailable_response() -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": "The database is unavailable; try again shortly."},
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)  # noqa: S101 - registered for DomainError only
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail})


def is_missing_schema(exc: BaseException) -> bool:
    """A table is missing: the database was never migrated (PostgreSQL SQLSTATE 42P01)."""
    if not isinstance(exc, DBAPIError):
        return False
    return getattr(exc.orig, "sqlstate", None) == "42P01" or "no such table" in str(exc.orig)


def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if is_missing_schema(exc):  # the operator's fix, in the operator's log
        logger.error(
            "database schema missing: %s %s: run `notes-api migrate`",
            request.method,
            request.url.path,
        )
    else:
        logger.warning(
            "database unavailable: %s %s: %s", request.method, request.url.path, type(exc).__name__
        )
    return database_unavailable_response()


def is_unique_violation(exc: IntegrityError) -> bool:
    """A UNIQUE constraint refused the write (PostgreSQL SQLSTATE 23505, or SQLite's message)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate == "23505" or str(exc.orig).startswith("UNIQUE constraint failed")


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """503 for a lost or refused connection; 409 for a write the data's constraints refuse
    (e.g. a row deleted by someone else in the meantime); anything else stays a 500."""
    if isinstance(exc, IntegrityError):
        return JSONResponse(
            status_code=status.HTTP_409_CONFLICT,
            content={"detail": "The request conflicts with the current state of the data"},
        )
    if not (is_database_unavailable(exc) or is_missing_schema(exc)):
        raise exc
    return _database_unavailable(request, exc)


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where and why, without echoing the input back: it may be a password, a huge body,
    or something JSON cannot even encode (an unpaired surrogate, an upload)."""
    return [
        {"type": error["type"], "loc": list(error["loc"]), "msg": error["msg"]}
        for error in exc.errors()
    ]


RequestErrorOverrides: TypeAlias = Mapping[str, Callable[[], JSONResponse]]
"""Paths whose malformed requests answer in their own format (the OAuth token endpoints)."""


def _request_error_handlers(
    overrides: RequestErrorOverrides,
) -> tuple[ExceptionHandler, ExceptionHandler]:
    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
        if request.url.path in overrides:
            return overrides[request.url.path]()
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": validation_errors(exc)},
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
        if exc.status_code == status.HTTP_400_BAD_REQUEST and request.url.path in overrides:
            return overrides[request.url.path]()  # e.g. a multipart body without a boundary
        return await http_exception_handler(request, exc)

    return validation_error, http_error


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """The last resort, also for errors raised outside the routes (in a middleware)."""
    if is_database_unavailable(exc):
        return _database_unavailable(request, exc)
    logger.exception("unhandled error: %s %s", request.method, request.url.path)
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        content={"detail": "Internal server error"},
    )


def install_error_handlers(app: FastAPI, overrides: RequestErrorOverrides) -> None:
    validation_error, http_error = _request_error_handlers(overrides)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DomainError, _domain_error)
    for database_error in (DBAPIError, PoolTimeoutError, OSError):
        app.add_exception_handler(database_error, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
