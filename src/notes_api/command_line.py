"""What every `notes-api` command shares: one-line failures, settings, a database session.

Kept apart from `cli` so that command groups in their own modules (`keys`,
`create-token`) fail and reach the database exactly as the others do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api import preflight
from notes_api.config import Settings, describe_settings_error, get_settings
from notes_api.database import create_app_engine, create_session_factory
from notes_api.exceptions import DomainError, is_database_unavailable
from notes_api.schema_migrations import current_revision

Result = TypeVar("Result")


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def load_settings() -> Settings:
    """The settings, or a one-line refusal instead of a traceback (a container's first log)."""
    try:
        return get_settings()
    except ValidationError as exc:
        raise fail(f"invalid settings: {describe_settings_error(exc)}") from None


def run_with_session(work: Callable[[AsyncSession], Awaitable[Result]]) -> Result:
    """Run one unit of work against the configured, migrated database."""
    database_url = load_settings().database_url

    async def main() -> Result:
        engine = create_app_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as connection:
                status = preflight.status_of(await connection.run_sync(current_revision))
            if status.state is not preflight.SchemaState.AT_HEAD:
                raise fail(status.message)
            async with create_session_factory(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        raise fail(exc.detail) from None
    except Exception as exc:
        if is_database_unavailable(exc):
            raise fail(preflight.unreachable_message(exc, database_url)) from None
        raise


def first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    return f"{location}: {first['msg']}" if location else first["msg"]
