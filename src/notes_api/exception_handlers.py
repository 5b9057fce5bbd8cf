"""The handlers that turn every failure into a JSON response.

Domain errors (`exceptions`) answer with their status and detail, RFC 6749
errors (`sessions.exceptions.OAuthError`) in that protocol's format. Database
outages become 503 and anything unexpected a bare 500 JSON body: never a
traceback, SQL or driver text.

Database outages are handled by class (SQLAlchemy's DBAPIError and pool
timeout, OSError), not by the catch-all `Exception` handler: Starlette runs the
catch-all outside every middleware and re-raises the exception after answering,
so an outage would log a driver traceback per request and the access log would
not see the 503.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from fastapi import FastAPI, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ExceptionHandler

from notes_api.auth.passwords import HashingBusyError
from notes_api.exceptions import DomainError, is_database_unavailable, is_missing_schema
from notes_api.routing import allowed_methods
from notes_api.sessions.exceptions import OAuthError, malformed_token_request
from notes_api.sessions.schemas import NO_STORE, OAuthErrorResponse

# Operators filter the log on this name: it stays put whatever this module is called.
logger = logging.getLogger("notes_api.errors")

DATABASE_RETRY_AFTER_SECONDS = 5


def database_unavailable_response() -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": "The database is unavailable; try again shortly."},
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)  # noqa: S101 - registered for DomainError only
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail})


def oauth_error_response(exc: OAuthError) -> JSONResponse:
    body = OAuthErrorResponse(
        error=exc.error, error_description=exc.description, mfa_token=exc.mfa_token
    )
    retry_after = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
    return JSONResponse(
        status_code=exc.status_code,
        content=body.model_dump(exclude_none=True),
        headers=NO_STORE | retry_after,
    )


async def _oauth_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OAuthError)  # noqa: S101 - registered for OAuthError only
    return oauth_error_response(exc)


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


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """503 for a lost or refused connection; 409 for a write the data's constraints refuse
    (e.g. a row deleted by someone else in the meantime); anything else is a 500.

    The 500 is answered here rather than re-raised: this handler runs inside the
    middlewares, so the answer carries the security headers and `X-Request-ID` and is
    logged like any other. A re-raised error would reach Starlette's outermost handler,
    whose answer bypasses every middleware.
    """
    if isinstance(exc, IntegrityError):
        return JSONResponse(
            status_code=status.HTTP_409_CONFLICT,
            content={"detail": "The request conflicts with the current state of the data"},
        )
    if not (is_database_unavailable(exc) or is_missing_schema(exc)):
        return _internal_error(request)
    return _database_unavailable(request, exc)


async def _hashing_busy(_request: Request, exc: Exception) -> JSONResponse:
    """Outside the token endpoint (which answers in RFC 6749's format), a full hashing
    queue is a plain 503 with `Retry-After`."""
    assert isinstance(exc, HashingBusyError)  # noqa: S101 - registered for it only
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": "The server is busy; try again shortly."},
        headers={"Retry-After": str(exc.retry_after_seconds)},
    )


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where and why, without echoing the input back: it may be a password, a huge body,
    or something JSON cannot even encode (an unpaired surrogate, an upload)."""
    return [
        {"type": error["type"], "loc": list(error["loc"]), "msg": error["msg"]}
        for error in exc.errors()
    ]


def is_undecodable_json(exc: StarletteHTTPException) -> bool:
    """FastAPI's 400 "There was an error parsing the body", raised from what `json.loads`
    raised besides a syntax error: bytes that are not UTF-8 (UnicodeDecodeError, a
    ValueError) or arrays nested past the recursion limit (RecursionError)."""
    return isinstance(exc.__cause__, (ValueError, RecursionError))


def undecodable_json_error(cause: BaseException | None) -> dict[str, Any]:
    """The body is not JSON: the same 422 `json_invalid` FastAPI answers for a syntax error
    (RFC 8259 JSON is UTF-8), so a client sees one code for every body it cannot send,
    and the contract's 422 for invalid input holds for bytes too."""
    where: list[str | int] = ["body"]
    if isinstance(cause, UnicodeDecodeError):
        where.append(cause.start)
    return {"type": "json_invalid", "loc": where, "msg": "JSON decode error"}


def _request_error_handlers(
    oauth_paths: Collection[str],
) -> tuple[ExceptionHandler, ExceptionHandler]:
    """Malformed requests to `oauth_paths` (the token endpoints) answer in RFC 6749's format."""

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
        if request.url.path in oauth_paths:
            errors = exc.errors()
            missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing"]
            if len(missing) < len(errors):
                missing = []  # something else is wrong too
            return oauth_error_response(malformed_token_request(missing))
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": validation_errors(exc)},
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
        if exc.status_code == status.HTTP_400_BAD_REQUEST and request.url.path in oauth_paths:
            # e.g. a multipart body without a boundary
            return oauth_error_response(malformed_token_request())
        if exc.status_code == status.HTTP_400_BAD_REQUEST and is_undecodable_json(exc):
            return JSONResponse(
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                content={"detail": [undecodable_json_error(exc.__cause__)]},
            )
        if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            methods = allowed_methods(request.app.router.routes, request.scope)
            if methods:  # the resource's methods, where Starlette names one route's
                headers = {**(exc.headers or {}), "Allow": ", ".join(methods)}
                exc = StarletteHTTPException(exc.status_code, exc.detail, headers)
        return await http_exception_handler(request, exc)

    return validation_error, http_error


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """The last resort, also for errors raised outside the routes (in a middleware)."""
    if is_database_unavailable(exc):
        return _database_unavailable(request, exc)
    return _internal_error(request)


def _internal_error(request: Request) -> JSONResponse:
    """Log the error being handled with its traceback; answer a bare JSON 500."""
    logger.exception("unhandled error: %s %s", request.method, request.url.path)
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        content={"detail": "Internal server error"},
    )


def install_error_handlers(app: FastAPI, oauth_paths: Collection[str]) -> None:
    validation_error, http_error = _request_error_handlers(oauth_paths)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(OAuthError, _oauth_error)
    app.add_exception_handler(HashingBusyError, _hashing_busy)
    for database_error in (DBAPIError, PoolTimeoutError, OSError):
        app.add_exception_handler(database_error, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
