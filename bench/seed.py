"""The benchmark database: created if missing, migrated, emptied, seeded in bulk SQL.

Users are inserted with one precomputed argon2 hash (the service's own
parameters, so a login verifies exactly as in production and never upgrades
the hash). Notes come from `INSERT ... SELECT generate_series(...)` in chunks,
with a progress bar on stderr; half of them belong to the user the read
benchmarks log in as, interleaved with the notes of 100 other users, so that
user's pages walk the (owner_id, id) index among other owners' rows.

Bodies are a user's, not a lab's: mixed lengths (half 200-800 characters,
four in ten 800-2,000, one in ten 2,000-4,000; about 1,100 on average), cut at
varying offsets from a text of varied words, so PostgreSQL stores and
compresses them like prose rather than one repeated line.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from notes_api.auth.passwords import hash_password
from notes_api.auth.roles import BUILTIN_ROLES
from notes_api.schema_migrations import upgrade_to_head

PASSWORD = "bench password 0123456789"  # noqa: S105 - a throwaway account in the bench database
OTHER_OWNERS = 100
LOGIN_USERS = 8
CHUNK = 50_000
BODY = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. " * 3
"""A short body, for the notes the benchmarks create."""
_WORD_LIST = (
    "the a of to and in is it that for on was with as at by this be from or have an they which "
    "one you were all we her she there would their will when who him been has more if no out so "
    "said what up its about than into them can only other new some could time these two may then "
    "do first any my now such like our over man me even most made after also did many before must "
    "through back years where much your way well down should because each just those people how "
    "meeting budget draft review invoice garden recipe flight travel notes ideas project release"
)
_WORDS = _WORD_LIST.split()
TEXT_LENGTH = 8_000
BODY_LENGTH_SQL = """
    CASE WHEN (g / 2) %% 10 < 5 THEN 200 + (g::bigint * 7919) %% 600
         WHEN (g / 2) %% 10 < 9 THEN 800 + (g::bigint * 104729) %% 1200
         ELSE 2000 + (g::bigint * 1299709) %% 2000 END
"""
"""The body length of note number `g`: mixed, as people's notes are."""


def prose(length: int = TEXT_LENGTH, seed: int = 20) -> str:
    """Words in a fixed pseudo-random order, in sentences: the text bodies are cut from."""
    rng = random.Random(seed)
    sentences: list[str] = []
    size = 0
    while size < length:
        words = rng.choices(_WORDS, k=rng.randint(6, 18))
        sentence = " ".join(words).capitalize() + rng.choice((".", ".", ".", "?", "!"))
        sentences.append(sentence)
        size += len(sentence) + 1
    return " ".join(sentences)[:length]


@dataclass
class BenchUsers:
    reader: int
    """Logs in for the read benchmarks; owns every other note."""
    writer: int
    """Creates notes in POST /notes."""
    login: int
    """Logs in again and again in the login benchmarks (one user from one address)."""
    admin: int
    soak: list[int] = field(default_factory=list)
    logins: list[int] = field(default_factory=list)
    """login00..login07: the login benchmarks' users, taken in turn (a pair each)."""
    others: list[int] = field(default_factory=list)

    def usernames(self) -> dict[str, int]:
        names = {"reader": self.reader, "writer": self.writer, "login": self.login}
        names["benchadmin"] = self.admin
        names.update({f"soak{i:02d}": user_id for i, user_id in enumerate(self.soak)})
        names.update({f"login{i:02d}": user_id for i, user_id in enumerate(self.logins)})
        return names


def libpq_url(url: str) -> str:
    """`postgresql+psycopg://...` (SQLAlchemy spelling) as libpq takes it."""
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + libpq_url(url).removeprefix("postgresql://")


def ensure_database(url: str) -> None:
    """Create the database named in `url` if it does not exist (via the `postgres` database)."""
    info = psycopg.conninfo.conninfo_to_dict(libpq_url(url))
    name = str(info.get("dbname") or "")
    if not name:
        raise SystemExit(f"no database name in {url!r}")
    if name == "test":
        raise SystemExit("refusing to benchmark against the database named 'test'")
    admin = psycopg.conninfo.make_conninfo(libpq_url(url), dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if exists.fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}", file=sys.stderr)


def prepare(url: str, soak_users: int = 16) -> BenchUsers:
    """Migrate, empty every table but the built-in roles, and create the bench users."""
    ensure_database(url)
    upgrade_to_head(sqlalchemy_url(url))
    hashed = hash_password(PASSWORD)
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute(
            "TRUNCATE notes, refresh_tokens, audit_events, login_attempts, user_roles, users "
            "RESTART IDENTITY CASCADE"
        )
        connection.execute("DELETE FROM roles WHERE NOT (name = ANY(%s))", (list(BUILTIN_ROLES),))

        def add(username: str, roles: tuple[str, ...] = ("user",)) -> int:
            row = connection.execute(
                "INSERT INTO users (username, hashed_password) VALUES (%s, %s) RETURNING id",
                (username, hashed),
            ).fetchone()
            assert row is not None  # noqa: S101
            for role in roles:
                connection.execute(
                    "INSERT INTO user_roles (user_id, role_id) "
                    "SELECT %s, id FROM roles WHERE name = %s",
                    (row[0], role),
                )
            return int(row[0])

        users = BenchUsers(
            reader=add("reader"),
            writer=add("writer"),
            login=add("login"),
            admin=add("benchadmin", ("admin", "user")),
        )
        users.soak = [add(f"soak{i:02d}") for i in range(soak_users)]
        users.logins = [add(f"login{i:02d}") for i in range(LOGIN_USERS)]
        users.others = [add(f"other{i:03d}") for i in range(OTHER_OWNERS)]
    return users


def note_count(url: str) -> int:
    with psycopg.connect(libpq_url(url)) as connection:
        row = connection.execute("SELECT count(*) FROM notes").fetchone()
        return int(row[0]) if row else 0


def seed_notes(url: str, users: BenchUsers, total: int) -> None:
    """Add notes until the table holds `total`: even rows the reader's, odd rows the others'."""
    start = note_count(url)
    if start >= total:
        return
    began = time.monotonic()
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        done = start
        while done < total:
            upto = min(total, done + CHUNK)
            connection.execute(
                """
                INSERT INTO notes (owner_id, title, body, source)
                SELECT CASE WHEN g %% 2 = 0 THEN %(reader)s::int
                            ELSE (%(others)s::int[])[1 + (g / 2) %% %(n_others)s] END,
                       'note ' || g,
                       substr(%(text)s::text, 1 + (g * 31) %% 3000, ({BODY_LENGTH_SQL})::int),
                       CASE WHEN g %% 10 = 0 THEN 'doc-' || (g %% 97) END
                FROM generate_series(%(first)s::int, %(last)s::int) AS g
                """.replace("{BODY_LENGTH_SQL}", BODY_LENGTH_SQL),
                {
                    "reader": users.reader,
                    "others": users.others,
                    "n_others": len(users.others),
                    "text": prose(),
                    "first": done + 1,
                    "last": upto,
                },
            )
            done = upto
            _progress(done - start, total - start, began)
        connection.execute("VACUUM ANALYZE notes")
    print(file=sys.stderr)


def seeded(database_url: str, notes: int = 10_000) -> str:
    """The database every side-by-side tool serves: migrated, emptied, the bench users
    created and `notes` notes seeded. Returns its SQLAlchemy URL."""
    url = sqlalchemy_url(database_url)
    seed_notes(url, prepare(url), notes)
    return url


def _progress(done: int, total: int, began: float) -> None:
    width = 30
    filled = int(width * done / total)
    rate = done / max(time.monotonic() - began, 1e-9)
    sys.stderr.write(
        f"\r  seeding notes [{'#' * filled}{'.' * (width - filled)}] "
        f"{done:>9,}/{total:,}  {rate:,.0f} rows/s"
    )
    sys.stderr.flush()


def deep_cursor_id(url: str, owner_id: int, depth: float = 0.99) -> int:
    """The id after which a page starts `depth` of the way down the owner's notes."""
    with psycopg.connect(libpq_url(url)) as connection:
        count_row = connection.execute(
            "SELECT count(*) FROM notes WHERE owner_id = %s", (owner_id,)
        ).fetchone()
        offset = int(int(count_row[0] if count_row else 0) * depth)
        row = connection.execute(
            "SELECT id FROM notes WHERE owner_id = %s ORDER BY id DESC OFFSET %s LIMIT 1",
            (owner_id, offset),
        ).fetchone()
        if row is None:
            raise RuntimeError("no notes to page through")
        return int(row[0])


def explain(url: str, owner_id: int, before_id: int | None, limit: int = 20) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the listing query, as the service sends it."""
    where = "owner_id = %s" + (" AND id < %s" if before_id is not None else "")
    params: tuple[int, ...] = (owner_id, before_id) if before_id is not None else (owner_id,)
    query = (
        "EXPLAIN (ANALYZE, BUFFERS) SELECT id, owner_id, title, body, source, created_at, "
        f"updated_at FROM notes WHERE {where} ORDER BY id DESC LIMIT {limit + 1}"
    )
    with psycopg.connect(libpq_url(url)) as connection:
        rows = connection.execute(query, params).fetchall()
    return "\n".join(str(row[0]) for row in rows)
