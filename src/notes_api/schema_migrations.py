"""Alembic, driven from code: used by `notes-api migrate`, `/readyz` and the tests.

The migration scripts live in `migrations/` at the repository root; a wheel
carries a copy inside the package (see pyproject.toml), found first.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, pool, text
from sqlalchemy.exc import SQLAlchemyError

from notes_api.database import database_urls

_PACKAGE_DIR = Path(__file__).resolve().parent


def migrations_directory() -> Path:
    for candidate in (_PACKAGE_DIR / "_migrations", _PACKAGE_DIR.parents[1] / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("cannot find the Alembic migrations directory")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade_to_head(database_url: str) -> None:
    _run(database_url, lambda config: command.upgrade(config, "head"))


def downgrade_to(database_url: str, revision: str) -> None:
    _run(database_url, lambda config: command.downgrade(config, revision))


def _run(database_url: str, action: Callable[[Config], None]) -> None:
    engine = create_engine(database_urls(database_url).sync_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            action(alembic_config(connection))
    finally:
        engine.dispose()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    try:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        connection.rollback()
        return None
