"""What the command line says about the database before it works on it: one line naming
the cause (the driver's own reason, never a password), and the advice that fits it.

A newcomer's first `notes-api migrate` or `serve` meets these: a database that does not
exist, an unmigrated one, or one migrated by a newer notes-api (whose revision this code
does not know; `migrate` cannot help there, so nothing here advises it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from notes_api.exceptions import is_database_unavailable
from notes_api.schema_migrations import alembic_config, current_revision, head_revision

MIGRATE_ADVICE = "run `notes-api migrate`"


class SchemaState(Enum):
    AT_HEAD = "at head"
    UNMIGRATED = "unmigrated"
    BEHIND = "behind"
    AHEAD = "ahead"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class SchemaStatus:
    state: SchemaState
    message: str


def driver_reason(exc: BaseException, database_url: str) -> str:
    """The driver's own words ("database "notes" does not exist"), on one line, with the
    URL's password blanked should the driver ever quote it."""
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    reason = " ".join(str(original).split()) or type(original).__name__
    password = make_url(database_url).password
    if password:
        reason = reason.replace(str(password), "***")
    return reason


def unreachable_message(exc: BaseException, database_url: str) -> str:
    return f"cannot reach the database: {driver_reason(exc, database_url)}"


def ahead_message(revision: str) -> str:
    return (
        f"the database is at revision {revision}, which this notes-api does not know: "
        "a newer notes-api migrated it; run that version, or restore a backup taken "
        "before the upgrade"
    )


def is_unknown_revision(exc: BaseException) -> bool:
    """Alembic's refusal to upgrade from a revision missing from our scripts."""
    return isinstance(exc, CommandError) and "Can't locate revision" in str(exc)


def revision_in_database(database_url: str) -> str | None:
    from notes_api.database import database_urls

    engine = create_engine(database_urls(database_url).sync_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return current_revision(connection)
    finally:
        engine.dispose()


def schema_status(database_url: str) -> SchemaStatus:
    """Where the database's schema stands relative to this code's migrations."""
    try:
        revision = revision_in_database(database_url)
    except SQLAlchemyError as exc:
        if is_database_unavailable(exc):
            return SchemaStatus(SchemaState.UNREACHABLE, unreachable_message(exc, database_url))
        raise
    return status_of(revision)


def status_of(revision: str | None) -> SchemaStatus:
    if revision is None:
        return SchemaStatus(
            SchemaState.UNMIGRATED, f"the database has no notes-api schema: {MIGRATE_ADVICE}"
        )
    if revision == head_revision():
        return SchemaStatus(SchemaState.AT_HEAD, f"database at revision {revision}")
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        return SchemaStatus(SchemaState.AHEAD, ahead_message(revision))
    return SchemaStatus(
        SchemaState.BEHIND,
        f"the database schema is not up to date (revision {revision}): {MIGRATE_ADVICE}",
    )


def serve_warning(database_url: str) -> str | None:
    """Why the server about to start will answer 503s, if it will. It starts anyway: the
    database may come up, or be migrated, later (/readyz tells when), but the cause is said
    at start-up rather than as "unavailable" to the first logins."""
    status = schema_status(database_url)
    return None if status.state is SchemaState.AT_HEAD else status.message


def migrate_failure(exc: BaseException, database_url: str) -> str | None:
    """The one line `notes-api migrate` prints for a failure it understands, else None."""
    if is_database_unavailable(exc):
        return unreachable_message(exc, database_url)
    if is_unknown_revision(exc):
        return schema_status(database_url).message
    return None
