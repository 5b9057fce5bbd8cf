"""Waiting for another worker to catch up, without asserting how fast: bench/ measures that,
and test_revocation_triggers_across_workers.py holds every trigger to the one-second bound."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, text

PATIENCE_SECONDS = 15.0
"""Far above the promised second: a test proves that a revocation bites, not its speed."""


def eventually(condition: Callable[[], bool], patience: float = PATIENCE_SECONDS) -> bool:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def requests_waiting_on_a_lock(engine: Engine) -> int:
    """How many sessions of the test database wait for a lock (PostgreSQL): the tests that
    hold a row in a second connection wait for this before they let it go."""
    with engine.connect() as connection:
        waiting: int = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return waiting
