"""Engine, session factory and the declarative base shared by every model.

The application talks to the database through an async engine; Alembic and the
command line use a synchronous engine on the same database. `database_urls`
maps whatever URL the user configured to the driver each side needs.
"""

from __future__ import annotations

import asyncio
import select
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVarTuple, cast, overload

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from sqlalchemy import Executable, MetaData, Select, event
from sqlalchemy.engine import URL, CursorResult, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection as SessionConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, SessionTransaction
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.sql.selectable import TypedReturnsRows

from notes_api.clock import as_utc

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_SECONDS = 30
"""How long a SQLite writer waits for the lock before failing; writers queue instead of erroring."""

Columns = TypeVarTuple("Columns")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


@dataclass(frozen=True)
class DatabaseURLs:
    """The configured database, spelled for the async application and for sync tools."""

    async_url: URL
    sync_url: URL

    @property
    def is_sqlite(self) -> bool:
        return self.sync_url.get_backend_name() == "sqlite"


def database_urls(configured: str) -> DatabaseURLs:
    """Accept `sqlite:///`, `postgresql://` and driver-qualified spellings alike."""
    url = make_url(configured)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return DatabaseURLs(
            async_url=url.set(drivername="sqlite+aiosqlite"),
            sync_url=url.set(drivername="sqlite"),
        )
    if backend in ("postgresql", "postgres"):
        psycopg = url.set(drivername="postgresql+psycopg")
        return DatabaseURLs(async_url=psycopg, sync_url=psycopg)
    raise ValueError(f"DATABASE_URL must be a sqlite or postgresql URL, not {backend!r}")


def _configure_sqlite_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """Foreign keys on, WAL, and a busy timeout, on every application connection.

    The driver's own transaction handling is switched off so that
    `_begin_sqlite_transaction` can take the write lock up front: a deferred
    transaction that reads and then writes fails at once with "database is locked"
    when another writer got in between, and no busy timeout helps with that.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_SQLITE_READS_ONLY = "notes_api_reads_only"
"""Execution option of `single_read_engine` on SQLite: its transactions only read."""


def _begin_sqlite_transaction(connection: Any) -> None:
    """Every transaction takes the write lock up front, but for those that only read: in
    WAL mode a reader needs no lock, and BEGIN IMMEDIATE would queue it behind every writer."""
    if connection.get_execution_options().get(_SQLITE_READS_ONLY):
        connection.exec_driver_sql("BEGIN DEFERRED")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_app_engine(configured_url: str, *, pool_size: int = 20) -> AsyncEngine:
    """The async engine the application serves requests with.

    On PostgreSQL the pool keeps `pool_size` connections and opens no overflow:
    overflow connections are closed as soon as they are returned while the
    pool is full, so a steady load above the pool's size would keep opening and
    closing PostgreSQL sessions (each a backend fork and a login). Requests
    beyond `pool_size` wait in the pool's queue, which one event loop drains
    faster than new connections would open.
    """
    urls = database_urls(configured_url)
    if urls.is_sqlite:
        engine = create_async_engine(
            urls.async_url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            hide_parameters=True,
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        event.listen(engine.sync_engine, "begin", _begin_sqlite_transaction)
        return engine
    engine = create_async_engine(
        urls.async_url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=10,
        hide_parameters=True,  # errors and logs never carry note bodies, emails or hashes
    )
    # A connection killed under the pool (database restart, pg_terminate_backend) is
    # replaced at checkout, so the request that meets it still succeeds; the check costs
    # no round trip, where pool_pre_ping would send one before every transaction.
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def is_idle_and_open(connection: AsyncConnection[Any]) -> bool:
    """Whether a pooled psycopg connection can take a query, decided without a round trip.

    A connection at rest has nothing to read: the server speaks only when asked,
    except to say goodbye. So a readable socket means it has closed the session
    (a restart, `pg_terminate_backend`, an idle timeout, a cut network all leave a
    FATAL message or an EOF behind), and one that is not idle is mid-something.
    """
    if connection.closed or connection.info.transaction_status != TransactionStatus.IDLE:
        return False
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
    return not poller.poll(0)  # readable, hung up or in error: the server has let go


def _refuse_closed_connection(
    dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """Pool checkout: a dead connection is refused, and the pool replaces it at once."""
    if not is_idle_and_open(dbapi_connection.driver_connection):
        raise DisconnectionError("the server closed this pooled connection")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@overload
async def execute_core(
    db: AsyncSession,
    statement: TypedReturnsRows[*Columns],
    parameters: Mapping[str, Any] | None = None,
) -> CursorResult[*Columns]: ...
@overload
async def execute_core(
    db: AsyncSession, statement: Executable, parameters: Mapping[str, Any] | None = None
) -> CursorResult[*tuple[Any, ...]]: ...
async def execute_core(
    db: AsyncSession, statement: Executable, parameters: Mapping[str, Any] | None = None
) -> CursorResult[*tuple[Any, ...]]:
    """Run `statement` as Core, on the session's connection and inside its transaction.

    For statements that load no ORM objects, on the paths every login runs (the
    throttle, the user's lock, the issuing of tokens). The session's own `execute` takes
    an INSERT, UPDATE or DELETE of a mapped class through the ORM's bulk path, which
    matches the rows against the identity map: that costs about as much again as the
    statement itself (`python -m bench.statement_cost`). Sessions here never autoflush,
    so going past the session leaves nothing unflushed that it would have flushed.
    """
    connection = await _transaction_connection(db)
    # Not the statement run in a `db.run_sync(...)` hop of its own, which a login's count of
    # instructions once favoured: `AsyncConnection` also closes the DBAPI cursor once the
    # rows are buffered (aiosqlite's close must be awaited) and refuses a server-side cursor.
    return await connection.execute(statement, parameters)


_TRANSACTION_CONNECTION = "notes_api.transaction_connection"
"""The key under which a session's `info` keeps its transaction and that transaction's
`AsyncConnection`, for `_transaction_connection`."""


async def _transaction_connection(db: AsyncSession) -> SessionConnection:
    """`db.connection()`, asked once per transaction rather than once per statement.

    Within one transaction the session hands back the same connection every time, but
    asking costs a greenlet hop through SQLAlchemy's asyncio bridge and a lookup of the
    connection's proxy, and a login's seven statements asked seven times. The answer is kept
    beside the transaction it belongs to, the innermost one (a savepoint's, inside
    `begin_nested`); a new transaction (after a commit or a rollback), or one that can no
    longer run statements, asks the session again, which then begins one or raises as it
    always did.

    One check of the session's is not repeated: a statement inside a savepoint's `async
    with` block, after that savepoint was rolled back by hand, runs in the enclosing
    transaction where the session would have refused it. Nothing here uses savepoints.
    """
    transaction = _innermost_transaction(db)
    kept = db.info.get(_TRANSACTION_CONNECTION)
    if (
        kept is not None
        and transaction is not None
        and transaction.is_active
        and kept[0]() is transaction
    ):
        connection: SessionConnection = kept[1]
        return connection
    connection = await db.connection()
    begun = _innermost_transaction(db)
    if begun is not None:
        db.info[_TRANSACTION_CONNECTION] = (weakref.ref(begun), connection)
    return connection


def _innermost_transaction(db: AsyncSession) -> SessionTransaction | None:
    return db.sync_session.get_nested_transaction() or db.sync_session.get_transaction()


def single_read_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for requests whose whole work is one SELECT.

    On PostgreSQL its connections are in autocommit while checked out: the
    statement is its own transaction, so the driver sends no BEGIN before it and
    no ROLLBACK after, one round trip instead of three. SQLite keeps its own
    transaction handling (`_begin_sqlite_transaction`), told that these transactions only
    read: they begin deferred and take no lock, so a read goes on while a writer
    holds the database.
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_SQLITE_READS_ONLY: True})
    return engine.execution_options(isolation_level="AUTOCOMMIT")


class PoolGate:
    """First come, first served admission to the connection pool.

    The pool's own queue is an `asyncio.Queue`, which is not fair: a request
    arriving just as a connection comes back takes it ahead of the waiter that
    was woken for it, and that waiter queues again at the back. Under load a
    few requests starve for a second or more. Each read through `Reader` (the
    hot path) first takes a permit here, one per pooled connection, from an
    `asyncio.Semaphore`, which hands a released permit to the longest waiter.
    Session requests do not pass through it: a login holds its session for the
    whole request, hash included, and must not hold a permit that reads are
    waiting for. `permits=None` admits everyone
    (SQLite, whose pool is not the bottleneck).
    """

    def __init__(self, permits: int | None) -> None:
        self.permits = permits
        self.waiting = 0
        """Reads queued for a permit now (the pool gauge's `waiting`)."""
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        if self.permits is None:
            yield
            return
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:  # one per event loop (tests)
            self._semaphore, self._loop = asyncio.Semaphore(self.permits), loop
        self.waiting += 1  # back to 0 before anyone can read it when a permit is free
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._semaphore.release()


def pool_gate(engine: AsyncEngine) -> PoolGate:
    """A gate with one permit per connection the engine's pool may open (None for SQLite)."""
    if engine.dialect.name == "sqlite":
        return PoolGate(None)
    pool = engine.sync_engine.pool
    size: int = pool.size()  # type: ignore[attr-defined]
    overflow: int = pool._max_overflow  # type: ignore[attr-defined]
    return PoolGate(size + max(overflow, 0))


class Reader(Protocol):
    """Single SELECTs for read endpoints whose work is one statement, outside any session.

    Rows come back as plain tuples in the statement's column order, timestamps
    timezone-aware in UTC. Statements must be built once and reused: readers may
    cache what they derive from one. On PostgreSQL this is `DriverReader`
    (`driver_reads`); on SQLite, `EngineReader`.
    """

    gate: PoolGate
    """First come, first served admission: every read passes it."""

    async def all(
        self, statement: Select[*Columns], parameters: Mapping[str, Any] | None = None
    ) -> list[tuple[*Columns]]: ...

    async def close(self) -> None: ...

    def trace_with(self, tracer: Tracer) -> None:
        """Spans for the statements it runs itself (tracing on); the engine's are traced
        by the engine's instrumentation."""

    def own_connections(self) -> tuple[int, int, int]:
        """Connections it keeps outside the engine's pool: in use, idle, at most."""


class EngineReader:
    """`Reader` through the SQLAlchemy engine (`single_read_engine`): a pooled connection
    held for the query alone (SQLite; no ORM session, no `yield` dependency)."""

    def __init__(self, engine: AsyncEngine, gate: PoolGate) -> None:
        self.engine = single_read_engine(engine)
        self.gate = gate

    async def all(
        self, statement: Select[*Columns], parameters: Mapping[str, Any] | None = None
    ) -> list[tuple[*Columns]]:
        async with self.gate.admit(), self.engine.connect() as connection:
            result = await connection.execute(statement, parameters)
            rows = result.all()
        # SQLite hands back naive datetimes (stored as UTC): the same rows as PostgreSQL's.
        return [cast(tuple[*Columns], tuple(map(_utc_if_datetime, row))) for row in rows]

    async def close(self) -> None:
        """Nothing of its own to close: the engine is disposed by its owner."""

    def trace_with(self, tracer: Tracer) -> None:
        """Nothing to do: its statements run on the engine, whose instrumentation traces them."""

    def own_connections(self) -> tuple[int, int, int]:
        return 0, 0, 0  # it reads on the engine's connections


def _utc_if_datetime(value: object) -> object:
    return as_utc(value) if isinstance(value, datetime) else value
