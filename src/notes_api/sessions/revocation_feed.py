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
`POLL_SECONDS` for sessions ended and cut-offs set recently (with a margin
for transactions that committed after the time they recorded), and confirms
the cache as of the start of each successful poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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
POLL_OVERLAP_SECONDS = 60.0
"""A SQLite writer records its time before it commits (at most the busy timeout later)."""
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
    def __init__(self, cache: RevocationCache, database_url: str) -> None:
        self.cache = cache
        self._url = database_urls(database_url).async_url
        self.loaded = asyncio.Event()

    async def run(self) -> None:
        # Not the application's engine: that one starts every transaction with BEGIN
        # IMMEDIATE (the write lock); a poll only reads, each SELECT on its own.
        engine = create_async_engine(self._url, isolation_level="AUTOCOMMIT")
        try:
            # Each poll looks back to the start of the last successful one (less the overlap),
            # not to a fixed distance from now: after polls that failed for longer than the
            # overlap, what ended while they failed is read by the first that succeeds.
            since = utcnow() - timedelta(seconds=self.cache.window_seconds)
            while True:
                as_of, started = time.monotonic(), utcnow()
                try:
                    await self._poll(engine, since)
                except Exception as exc:  # any failure: the cache goes stale
                    logger.warning("revocation poll failed: %s", type(exc).__name__)
                else:
                    self.cache.confirm(as_of)
                    self.loaded.set()
                    since = started - timedelta(seconds=POLL_OVERLAP_SECONDS)
                await asyncio.sleep(POLL_SECONDS)
        finally:
            await engine.dispose()

    async def _poll(self, engine: AsyncEngine, since: datetime) -> None:
        async with engine.connect() as connection:
            ended = await connection.execute(
                select(LoginSession.sid, LoginSession.ended_at).where(
                    LoginSession.ended_at >= since
                )
            )
            cut_offs = await connection.execute(
                select(User.id, User.tokens_valid_after)
                .where(User.tokens_valid_after >= since)
                .union_all(
                    select(UserDeletion.user_id, UserDeletion.deleted_at).where(
                        UserDeletion.deleted_at >= since
                    )
                )
            )
            self.cache.merge(
                ((sid, as_utc(at).timestamp()) for sid, at in ended if at),
                ((user_id, as_utc(at).timestamp()) for user_id, at in cut_offs if at),
            )
        self.cache.prune()


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
