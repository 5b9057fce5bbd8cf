"""The hot read path on PostgreSQL: SQLAlchemy's compiled SQL, run on psycopg's own connection.

SQLAlchemy stays the schema and the statement builder; what this
module leaves out is its async execution path, which for a one-statement read
costs more than the query: a greenlet hand-off per call, a pre-ping round trip
at every checkout, the isolation-level switch, and result processing into
`Row`s. Here each statement is compiled once, and a read is one round trip on a
psycopg `AsyncConnection` in autocommit, prepared on first use.

Connections live in a small pool of their own behind a `PoolGate`, which admits
readers first come, first served and never more than there are connections, so
the pool itself needs no queue: a reader takes an idle connection or opens one.

A connection is checked without a round trip (`database.is_idle_and_open`).
One killed between that check and the query is caught by the query failing on
it, and the read runs once more on a new connection. A failure on a fresh
connection is an outage: it is raised as SQLAlchemy's `OperationalError`, like
every other database failure, and answered 503.

With tracing on (`trace_with`), each statement run gets a CLIENT span like the
ones the engine's SQLAlchemy instrumentation makes: `SELECT <database>`, with the
statement's SQL (placeholders, never values) as `db.statement`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import psycopg
from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from notes_api.database import Columns, PoolGate, is_idle_and_open

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

Connection = psycopg.AsyncConnection[tuple[Any, ...]]


@dataclass(frozen=True)
class _Query:
    statement: Select[*tuple[Any, ...]]  # kept alive: the cache is keyed by its id()
    sql: str
    operation: str
    """The SQL's first word, for span names."""


class _Lost(Exception):
    """A pooled connection turned out dead when used: the read may run again elsewhere."""

    def __init__(self, error: psycopg.Error) -> None:
        super().__init__(str(error))
        self.error = error


class DriverReader:
    """Single SELECTs on a pooled psycopg connection in autocommit (PostgreSQL only)."""

    def __init__(self, engine: AsyncEngine, gate: PoolGate) -> None:
        """Connections as the engine opens them; at most `gate.permits` of them."""
        self.dialect: Dialect = engine.dialect
        # The engine's own connect arguments: same host, credentials, TLS and options.
        _, self._connect_args = engine.dialect.create_connect_args(engine.url)
        self.gate = gate
        self._idle: list[Connection] = []
        self._closes = 0
        """How many times `close` ran: a read that began before the last one closes its
        connection instead of handing it back (the reader itself stays usable, for an app
        whose lifespan runs again)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queries: dict[int, _Query] = {}
        self._tracer: Tracer | None = None
        self._in_use = 0
        url = engine.url
        self._span_attributes: dict[str, str | int] = {
            "db.system": "postgresql",
            **({"db.name": url.database} if url.database else {}),
            **({"db.user": url.username} if url.username else {}),
            **({"net.peer.name": url.host} if url.host else {}),
            **({"net.peer.port": url.port} if url.port else {}),
        }

    def trace_with(self, tracer: Tracer) -> None:
        """A CLIENT span per statement run, from now on."""
        self._tracer = tracer

    async def all(
        self, statement: Select[*Columns], parameters: Mapping[str, Any] | None = None
    ) -> list[tuple[*Columns]]:
        """The rows of `statement`, which must be built once and reused (its SQL is cached)."""
        query = self._compiled(statement)
        async with self.gate.admit():
            self._in_use += 1
            try:
                rows = await self._run(query, parameters, reuse=True)
            except _Lost:
                rows = await self._run(query, parameters, reuse=False)
            finally:
                self._in_use -= 1
        return cast(list[tuple[*Columns]], rows)

    def own_connections(self) -> tuple[int, int, int]:
        return self._in_use, len(self._idle), self.gate.permits or 0

    async def close(self) -> None:
        """Close the idle connections now, and each one a read still in flight hands back
        later (the app stopped under it): no connection is left for the GC to find."""
        self._closes += 1
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()

    async def _put_back(self, connection: Connection, closes_before: int) -> None:
        if self._closes != closes_before:  # the reader closed while this read ran
            await connection.close()
        else:
            self._idle.append(connection)

    def _compiled(self, statement: Select[*tuple[Any, ...]]) -> _Query:
        query = self._queries.get(id(statement))
        if query is None or query.statement is not statement:
            sql = str(statement.compile(dialect=self.dialect))
            query = _Query(statement, sql, sql.split(maxsplit=1)[0])
            self._check_types(statement)
            self._queries[id(statement)] = query
        return query

    def _check_types(self, statement: Select[*tuple[Any, ...]]) -> None:
        """Values go to psycopg and come back from it untouched: refuse, at the first call,
        a statement whose types would need SQLAlchemy's processing (none of ours do)."""
        dialect = self.dialect
        compiled = statement.compile(dialect=dialect)
        for bind in compiled.binds.values():
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                raise TypeError(f"parameter {bind.key!r} needs SQLAlchemy's bind processing")
        for column in statement.selected_columns:
            if column.type.dialect_impl(dialect).result_processor(dialect, None) is not None:
                raise TypeError(f"column {column.name!r} needs SQLAlchemy's result processing")

    async def _run(
        self, query: _Query, parameters: Mapping[str, Any] | None, *, reuse: bool
    ) -> list[tuple[Any, ...]]:
        closes_before = self._closes
        connection = self._take_idle() if reuse else None
        fresh = connection is None
        if connection is None:
            connection = await self._connect(query)
        try:
            if self._tracer is None:
                rows = await _execute(connection, query, parameters)
            else:
                rows = await self._traced(self._tracer, connection, query, parameters)
        except psycopg.Error as error:
            if connection.broken or connection.closed:
                await connection.close()
                if not fresh:
                    raise _Lost(error) from error
                raise self._translated(query, error, lost=True) from error
            # The statement failed, not the connection: it may serve the next read.
            await self._put_back(connection, closes_before)
            raise self._translated(query, error, lost=False) from error
        except BaseException:  # cancelled mid-query: its state is unknown, so it is not reused
            connection.pgconn.finish()
            raise
        await self._put_back(connection, closes_before)
        return rows

    async def _traced(
        self,
        tracer: Tracer,
        connection: Connection,
        query: _Query,
        parameters: Mapping[str, Any] | None,
    ) -> list[tuple[Any, ...]]:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        database = self._span_attributes.get("db.name")
        with tracer.start_as_current_span(
            f"{query.operation} {database}" if database else query.operation,
            kind=SpanKind.CLIENT,
            attributes={**self._span_attributes, "db.statement": query.sql},
            record_exception=False,  # as the engine's spans: the status carries the error
            set_status_on_exception=False,
        ) as span:
            try:
                return await _execute(connection, query, parameters)
            except psycopg.Error as error:
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                raise

    def _take_idle(self) -> Connection | None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # connections belong to one event loop (tests run several)
            self._loop, stale, self._idle = loop, self._idle, []
            for connection in stale:
                connection.pgconn.finish()
        while self._idle:
            connection = self._idle.pop()
            if is_idle_and_open(connection):
                return connection
            connection.pgconn.finish()
        return None

    async def _connect(self, query: _Query) -> Connection:
        try:
            connection = await psycopg.AsyncConnection.connect(
                **self._connect_args, autocommit=True
            )
        except psycopg.Error as error:
            raise self._translated(query, error, lost=True) from error
        try:
            # Rows carry UTC timestamps, as the API writes them, whatever the server's zone.
            await connection.execute("SET TIME ZONE 'UTC'")
        except psycopg.Error as error:
            connection.pgconn.finish()  # in no pool yet: nothing else would close it
            raise self._translated(query, error, lost=True) from error
        except BaseException:  # cancelled during the set-up
            connection.pgconn.finish()
            raise
        return cast(Connection, connection)

    @staticmethod
    def _translated(query: _Query, error: psycopg.Error, *, lost: bool) -> BaseException:
        """psycopg's error as SQLAlchemy's (OperationalError for a lost or refused connection),
        so that the one set of handlers answers 503 or 500 exactly as for the engine's."""
        return DBAPIError.instance(
            query.sql,
            None,
            error,
            psycopg.Error,
            hide_parameters=True,
            connection_invalidated=lost,
        )


async def _execute(
    connection: Connection, query: _Query, parameters: Mapping[str, Any] | None
) -> list[tuple[Any, ...]]:
    cursor = await connection.execute(query.sql, parameters, prepare=True)
    return await cursor.fetchall()
