"""Keeps each worker's `RevocationCache` current from the database.

PostgreSQL: one dedicated connection per worker LISTENs on the channel that
the triggers of migration 0006_sessions notify (`s:<sid>` when a session
ends, `u:<user id>:<epoch>` when a user's cut-off moves). It LISTENs first and
loads the current set second, so nothing committed in between is missed.
Every `PING_SECONDS` it NOTIFYs a channel of its own: notifications arrive in
commit order, so when its own ping comes back, everything committed before
the ping was sent has been applied, and the cache is confirmed as of then.
A dead connection, or pings that stop coming back for `STALL_SECONDS`, makes
it reconnect (at once, then with backoff up to one second) and reload; once
the last confirmation is older than `TRUST_SECONDS`, access tokens are refused
until the reload succeeds. The listener may use its own
URL (DATABASE_LISTEN_URL): LISTEN needs a session, which a pooler in
transaction mode does not give.

SQLite: the database is a local file, so the feed polls it every
`POLL_SECONDS` for sessions ended and cut-offs set since shortly before the
previous successful poll, and confirms the cache as of the start of each
successful poll (`SqliteRevocationFeed` says why the short look-back is safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import ColumnElement, Engine, String, create_engine, select, type_coerce
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import QueryableAttribute

from notes_api.auth.revocation_cache import RevocationCache
from notes_api.clock import as_utc, utcnow
from notes_api.database import database_urls
from notes_api.sessions.models import UserDeletion
from notes_api.sessions.session_model import LoginSession
from notes_api.users.models import User

logger = logging.getLogger(__name__)

CHANNEL = "notes_api_revocations"
PING_SECONDS = 0.2
STALL_SECONDS = 2.0
"""No ping back for this long: the connection is presumed dead and replaced."""
MAX_BACKOFF_SECONDS = 1.0
SHUTDOWN_SECONDS = 2.0
LISTENER_NAME = "notes-api revocation listener"
CONNECTION_OPTIONS: dict[str, str | int] = {
    "application_name": LISTENER_NAME,
    "connect_timeout": 5,
    # A peer that vanished without a word (no RST) is noticed by the kernel too.
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
    "tcp_user_timeout": 5000,
}
POLL_SECONDS = 0.2
POLL_OVERLAP_SECONDS = 1.0
"""How far before its barrier a SQLite poll's successor looks back: the precision of the
times writers record (the triggers' `'now'` is cut to the millisecond, CURRENT_TIMESTAMP in
plain SQL to the second) and small steps of the clock. Commit order needs none of it: the
barrier covers that (see `SqliteRevocationFeed`)."""
BARRIER_WAIT_SECONDS = 0.1
"""How long a SQLite poll waits for the write lock to pass its barrier (and for any lock)."""
PRUNE_SECONDS = 10.0
FLOOD_BATCH = 500
"""Notifications applied between two yields to the event loop."""
SNAPSHOT_SESSIONS = (
    "SELECT sid, extract(epoch FROM ended_at)::float8 FROM sessions"
    " WHERE ended_at > now() - make_interval(secs => %s)"
)
SNAPSHOT_CUT_OFFS = (
    "SELECT id, extract(epoch FROM tokens_valid_after)::float8 FROM users"
    " WHERE tokens_valid_after > now() - make_interval(secs => %(window)s)"
    " UNION ALL SELECT user_id, extract(epoch FROM deleted_at)::float8 FROM user_deletions"
    " WHERE deleted_at > now() - make_interval(secs => %(window)s)"
)


class MalformedNoticeError(ValueError):
    pass


def apply_notice(cache: RevocationCache, payload: str) -> None:
    """`s:<sid>` or `u:<user id>:<epoch seconds>`, as the triggers write them."""
    kind, _, rest = payload.partition(":")
    try:
        if kind == "s" and rest:
            cache.session_ended(rest)
            return
        if kind == "u":
            user_id, _, at = rest.partition(":")
            cache.cut_off(int(user_id), float(at))
            return
    except ValueError:
        pass
    raise MalformedNoticeError(payload[:100])


class PostgresRevocationFeed:
    def __init__(self, cache: RevocationCache, listen_url: str) -> None:
        self.cache = cache
        url = database_urls(listen_url).sync_url.set(drivername="postgresql")
        plain = url.render_as_string(hide_password=False)
        self._conninfo = make_conninfo(plain, **CONNECTION_OPTIONS)
        self._ping_channel = f"notes_api_ping_{secrets.token_hex(8)}"
        self.loaded = asyncio.Event()

    async def run(self) -> None:
        """Forever: connect, LISTEN, load, follow; after a failure, again at once, then with
        backoff. A drop does not void the cache: what was confirmed stays true, and
        `TRUST_SECONDS` after the last confirmation the cache stops vouching by itself. So a
        killed connection that is replaced within that time costs no request anything."""
        backoff = 0.0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as connection:
                    await self._listen_and_load(connection)
                    backoff = 0.0
                    await self._follow(connection)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                if _stopping():  # cancelled mid-query: psycopg may report it as its own error
                    raise asyncio.CancelledError from exc
                logger.warning("revocation listener lost its connection: %s", type(exc).__name__)
            await asyncio.sleep(backoff)
            backoff = min(max(backoff * 2, 0.05), MAX_BACKOFF_SECONDS)

    async def _listen_and_load(self, connection: psycopg.AsyncConnection[object]) -> None:
        await connection.execute(f"LISTEN {CHANNEL}")
        await connection.execute(f"LISTEN {self._ping_channel}")
        await self._load(connection)

    async def _load(self, connection: psycopg.AsyncConnection[object]) -> None:
        as_of = time.monotonic()
        window = self.cache.window_seconds
        ended = await (await connection.execute(SNAPSHOT_SESSIONS, (window,))).fetchall()
        cut_offs = await (
            await connection.execute(SNAPSHOT_CUT_OFFS, {"window": window})
        ).fetchall()
        self.cache.merge(ended, cut_offs)  # type: ignore[arg-type]
        self.cache.confirm(as_of)
        self.loaded.set()

    async def _follow(self, connection: psycopg.AsyncConnection[object]) -> None:
        """Ping, apply what arrives for `PING_SECONDS`, and again, until the connection fails.

        Notices that arrive while the ping's query runs are not lost: psycopg keeps them and
        `notifies()` plays them back first (psycopg 3.2.4, hence the lower bound)."""
        sent: dict[str, float] = {}
        last_echo = next_prune = time.monotonic()
        while True:
            ping = secrets.token_hex(4)
            sent[ping] = time.monotonic()
            async with asyncio.timeout(STALL_SECONDS):
                await connection.execute("SELECT pg_notify(%s, %s)", (self._ping_channel, ping))
            if echo := await self._apply_notices(connection, sent):
                last_echo = echo
            now = time.monotonic()
            if now - last_echo > STALL_SECONDS:
                raise TimeoutError("no ping came back")
            if now > next_prune:
                sent = {key: at for key, at in sent.items() if at > now - STALL_SECONDS}
                self.cache.prune()
                next_prune = now + 10

    async def _apply_notices(
        self, connection: psycopg.AsyncConnection[object], sent: dict[str, float]
    ) -> float | None:
        """Apply the notices of the next `PING_SECONDS`; the time an own ping came back."""
        echo = None
        reload = False
        applied = 0
        async with contextlib.aclosing(connection.notifies(timeout=PING_SECONDS)) as notices:
            async for notice in notices:
                if notice.channel == self._ping_channel:
                    if (as_of := sent.pop(notice.payload, None)) is not None:
                        self.cache.confirm(as_of)
                        echo = time.monotonic()
                    continue
                try:
                    apply_notice(self.cache, notice.payload)
                except MalformedNoticeError:
                    logger.warning("malformed revocation notice; reloading the revocation set")
                    reload = True
                    break
                applied += 1
                if applied % FLOOD_BATCH == 0:
                    await asyncio.sleep(0)  # a flood of notices must not starve requests
        if reload:  # outside the generator, which holds the connection while it runs
            await self._load(connection)
        return echo


class SqliteRevocationFeed:
    """Polls the SQLite file every `POLL_SECONDS`, each poll reading only what ended since
    shortly before the previous one, and confirms the cache as of each poll's start.

    Why a short look-back is enough, although a transaction can commit long after the time
    it recorded: every time these columns hold was read by its writer while it held
    SQLite's write lock (the application begins each transaction with BEGIN IMMEDIATE and
    `session_store` reads the clock after that; the triggers read `'now'` inside the
    statement that writes), and SQLite has one writer at a time. Each poll notes the time,
    then takes the write lock and releases it at once (the barrier), then reads. Every
    transaction that held the lock before the barrier has committed or rolled back by
    then, so what it wrote is in this read; any later commit took the lock after the
    barrier and so recorded a later time than the one noted. The next poll therefore looks
    back to the noted time, less `POLL_OVERLAP_SECONDS` for the precision of the recorded
    times, however long a writer held its transaction open. If the barrier cannot get the
    lock within `BARRIER_WAIT_SECONDS` (a long writer holds it), the poll still reads and
    confirms (what that writer has not committed is not owed yet), but the look-back
    stays where it was; so does it after a failed poll.

    Rows read again in the overlap are recognised by their sid before anything is parsed,
    and new ones are applied in batches between yields to the event loop: thousands of
    sessions ended at once cost one read, not one per poll (and no stalled requests).
    """

    def __init__(self, cache: RevocationCache, database_url: str) -> None:
        self.cache = cache
        self._url = database_urls(database_url).sync_url
        self.loaded = asyncio.Event()

    async def run(self) -> None:
        # Not the application's engine: that one starts every transaction with BEGIN
        # IMMEDIATE and waits up to its busy timeout for the lock; a poll reads, each
        # SELECT on its own, and takes the lock only for the barrier, briefly. Synchronous,
        # in a thread: the barrier's BEGIN and ROLLBACK follow each other there without
        # waiting for the event loop, and a large read does not hold the loop either.
        engine = create_engine(
            self._url,
            isolation_level="AUTOCOMMIT",
            connect_args={"timeout": BARRIER_WAIT_SECONDS, "check_same_thread": False},
        )
        try:
            since = utcnow() - timedelta(seconds=self.cache.window_seconds)
            next_prune = time.monotonic()
            while True:
                as_of = time.monotonic()
                try:  # a poll that fails leaves `since` where it was: nothing is skipped
                    since = await self._poll(engine, since)
                except Exception as exc:  # any failure: the cache goes stale
                    logger.warning("revocation poll failed: %s", type(exc).__name__)
                else:
                    self.cache.confirm(as_of)
                    self.loaded.set()
                if time.monotonic() > next_prune:
                    self.cache.prune()
                    next_prune = time.monotonic() + PRUNE_SECONDS
                await asyncio.sleep(POLL_SECONDS)
        finally:
            engine.dispose()

    async def _poll(self, engine: Engine, since: datetime) -> datetime:
        """Apply what ended at or after `since`; return where the next poll looks back to."""
        # Nothing older than the window matters: after a long outage, read no further back.
        since = max(since, utcnow() - timedelta(seconds=self.cache.window_seconds))
        reading = asyncio.ensure_future(asyncio.to_thread(_read, engine, since))
        try:
            snapshot = await asyncio.shield(reading)
        except asyncio.CancelledError:
            # Cancelled mid-read (the server is stopping): the thread reads on regardless.
            # Let it finish before `run` disposes of the engine under it: a test run at
            # the lowest versions crashed in SQLite's C code with a read still in that
            # thread while the app shut down. The read is short: its lock wait is bounded.
            await asyncio.wait([reading])
            raise
        await self._apply(snapshot)
        if snapshot.barrier_at is None:
            return since
        return snapshot.barrier_at - timedelta(seconds=POLL_OVERLAP_SECONDS)

    async def _apply(self, snapshot: _Snapshot) -> None:
        applied = 0
        for sid, at in snapshot.ended:
            if at is None or self.cache.has_ended(sid):
                continue  # read again in the overlap: applied already
            self.cache.session_ended(sid, _epoch(at))
            applied += 1
            if applied % FLOOD_BATCH == 0:
                await asyncio.sleep(0)  # a flood of ended sessions must not starve requests
        for index, (user_id, at) in enumerate(snapshot.cut_offs, start=1):
            if at is not None:
                self.cache.cut_off(user_id, _epoch(at))
            if index % FLOOD_BATCH == 0:
                await asyncio.sleep(0)


@dataclass(frozen=True)
class _Snapshot:
    barrier_at: datetime | None
    """The time noted before the barrier, None if the barrier did not get the lock."""
    ended: Sequence[tuple[str, str | None]]
    cut_offs: Sequence[tuple[int, str | None]]


def _as_text(column: QueryableAttribute[datetime | None]) -> ColumnElement[str | None]:
    """The stored text itself: parsed later, and only for rows not seen before."""
    return type_coerce(column, String)


def _read(engine: Engine, since: datetime) -> _Snapshot:
    """In a worker thread: note the time, pass the barrier, read what ended since `since`."""
    noted = utcnow()
    with engine.connect() as connection:
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError:  # "database is locked": a writer holds it; read anyway
            barrier_at = None
        else:
            connection.exec_driver_sql("ROLLBACK")
            barrier_at = noted
        ended = connection.execute(
            select(LoginSession.sid, _as_text(LoginSession.ended_at)).where(
                LoginSession.ended_at >= since
            )
        ).all()
        cut_offs = connection.execute(
            select(User.id, _as_text(User.tokens_valid_after))
            .where(User.tokens_valid_after >= since)
            .union_all(
                select(UserDeletion.user_id, _as_text(UserDeletion.deleted_at)).where(
                    UserDeletion.deleted_at >= since
                )
            )
        ).all()
    return _Snapshot(barrier_at, ended, cut_offs)


def _epoch(stored: str) -> float:
    """SQLite's text of a UTC time (SQLAlchemy's, a trigger's or CURRENT_TIMESTAMP)."""
    return as_utc(datetime.fromisoformat(stored)).timestamp()


RevocationFeed = PostgresRevocationFeed | SqliteRevocationFeed


def revocation_feed(
    cache: RevocationCache, database_url: str, listen_url: str | None
) -> RevocationFeed:
    if database_urls(database_url).is_sqlite:
        return SqliteRevocationFeed(cache, database_url)
    return PostgresRevocationFeed(cache, listen_url or database_url)


@contextlib.asynccontextmanager
async def running_feed(feed: RevocationFeed, startup_wait: float = 5.0) -> AsyncIterator[None]:
    """Run the feed for the life of the application. Start-up waits (a bounded time) for
    the first load, so the first requests are not refused while the set loads."""
    task = asyncio.create_task(feed.run(), name="revocation-feed")
    loaded = asyncio.ensure_future(feed.loaded.wait())
    await asyncio.wait({loaded}, timeout=startup_wait)
    loaded.cancel()
    try:
        yield
    finally:
        # Bounded: shutting down must not hang on a connection that ignores the cancellation.
        task.cancel()
        await asyncio.wait({task}, timeout=SHUTDOWN_SECONDS)


def _stopping() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
