"""What one statement costs the event loop through SQLAlchemy's async session, as Core on the
session's connection (`execute_core`), and on psycopg.

    python -m bench.statement_cost

No server and no load: one process, one connection to the bench database, each
way of running a statement repeated, CPU time (not wall time) per execution. The
floor a login's statements stand on (docs/performance.md, logins).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence

import psycopg
from sqlalchemy import bindparam, select, text

from bench import seed
from bench.run import DEFAULT_DATABASE_URL
from notes_api.audit.models import AuditEvent
from notes_api.clock import utcnow
from notes_api.database import create_app_engine, create_session_factory, execute_core
from notes_api.throttling import throttle
from notes_api.users.models import User


async def cpu_microseconds(run: Callable[[], Awaitable[object]], times: int) -> float:
    await run()  # warm: compiled, prepared
    started = time.process_time()
    for _ in range(times):
        await run()
    return 1e6 * (time.process_time() - started) / times


async def measure(url: str, times: int) -> dict[str, float]:
    engine = create_app_engine(url, pool_size=1)  # as the app configures it
    sessions = create_session_factory(engine)
    user_check = select(User.hashed_password, User.disabled).where(User.id == bindparam("id"))
    costs: dict[str, float] = {}
    try:
        async with sessions() as db:
            costs["session: SELECT 1 (text)"] = await cpu_microseconds(
                lambda: db.execute(text("SELECT 1")), times
            )
            costs["session: built-once SELECT of a user"] = await cpu_microseconds(
                lambda: db.execute(user_check, {"id": 1}), times
            )

            async def select_and_commit() -> None:
                await db.execute(user_check, {"id": 1})
                await db.commit()  # BEGIN before the SELECT, COMMIT after: three round trips

            costs["session: that SELECT in its own transaction"] = await cpu_microseconds(
                select_and_commit, times
            )

            async def add_and_flush() -> None:
                db.add(AuditEvent(action="bench", actor_id=None, target=None, detail={}))
                await db.flush()

            costs["session: ORM add + flush of one row"] = await cpu_microseconds(
                add_and_flush, times
            )
            attempt = {"user": "bench", "address": "192.0.2.1", "now": utcnow()}
            costs["session: a login attempt's built-once INSERT"] = await cpu_microseconds(
                lambda: db.execute(throttle._NEW_ATTEMPT, attempt), times
            )
            costs["execute_core: the same INSERT"] = await cpu_microseconds(
                lambda: execute_core(db, throttle._NEW_ATTEMPT, attempt), times
            )
            costs["execute_core: the same SELECT of a user"] = await cpu_microseconds(
                lambda: execute_core(db, user_check, {"id": 1}), times
            )
            await db.rollback()
    finally:
        await engine.dispose()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as connection:
        costs["psycopg: the same SELECT of a user"] = await cpu_microseconds(
            lambda: connection.execute(
                "SELECT hashed_password, disabled FROM users WHERE id = %s", (1,)
            ),
            times,
        )
    return costs


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.statement_cost", description=__doc__)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    )
    parser.add_argument("--times", type=int, default=2000)
    args = parser.parse_args(argv)
    url = seed.sqlalchemy_url(args.database_url)
    seed.prepare(url)
    for name, microseconds in asyncio.run(measure(url, args.times)).items():
        print(f"{name:<48} {microseconds:6.0f} us of CPU")


if __name__ == "__main__":
    main()
