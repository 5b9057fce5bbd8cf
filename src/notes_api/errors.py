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

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

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


def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning(
        "database unavailable: %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    return database_unavailable_response()


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """503 for a lost or refused connection; any other database error stays a 500."""
    if not is_database_unavailable(exc):
        raise exc
    return _database_unavailable(request, exc)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """The last resort, also for errors raised outside the routes (in a middleware)."""
    if is_database_unavailable(exc):
        return _database_unavailable(request, exc)
    logger.exception("unhandled error: %s %s", request.method, request.url.path)
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        content={"detail": "Internal server error"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    for database_error in (DBAPIError, PoolTimeoutError, OSError):
        app.add_exception_handler(database_error, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
