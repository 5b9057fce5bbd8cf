"""`execute_core` keeps the session's connection for the transaction it belongs to, and only
for it: the session's own checks still answer where a statement may not run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, PendingRollbackError
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.database import create_app_engine, create_session_factory, execute_core
from notes_api.users.models import Role

ROLE_COUNT = select(func.count()).select_from(Role)


def in_session(database_url: str, scenario: Callable[[AsyncSession], Awaitable[None]]) -> None:
    async def run() -> None:
        engine = create_app_engine(database_url)
        try:
            async with create_session_factory(engine)() as db:
                await scenario(db)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_a_statement_after_a_commit_runs_in_the_next_transaction(database_url: str) -> None:
    async def scenario(db: AsyncSession) -> None:
        before = (await execute_core(db, ROLE_COUNT)).scalar_one()
        db.add(Role(name="auditor"))
        await db.commit()  # the first transaction's connection goes back to the pool
        db.add(Role(name="editor"))
        await db.flush()  # the session begins the next transaction itself
        # The row flushed and not committed is seen: the same transaction, not the last one's.
        assert (await execute_core(db, ROLE_COUNT)).scalar_one() == before + 2
        await db.rollback()
        assert (await execute_core(db, ROLE_COUNT)).scalar_one() == before + 1

    in_session(database_url, scenario)


def test_a_savepoint_that_failed_to_flush_refuses_statements(database_url: str) -> None:
    """The connection was kept for the enclosing transaction, which is still active; the
    savepoint inside it is not, and the session refuses statements until it is rolled back."""

    async def scenario(db: AsyncSession) -> None:
        await execute_core(db, ROLE_COUNT)
        savepoint = await db.begin_nested()
        await execute_core(db, ROLE_COUNT)
        db.add(Role(name="admin"))  # taken: the built-in role
        with pytest.raises(IntegrityError):
            await db.flush()
        with pytest.raises(PendingRollbackError):
            await execute_core(db, ROLE_COUNT)
        await savepoint.rollback()
        await execute_core(db, ROLE_COUNT)

    in_session(database_url, scenario)
