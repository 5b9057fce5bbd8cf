"""Waiting for another worker to catch up, without asserting how fast: bench/ measures that,
and test_revocation_triggers_across_workers.py holds every trigger to the one-second bound."""

from __future__ import annotations

import time
from collections.abc import Callable

PATIENCE_SECONDS = 15.0
"""Far above the promised second: a test proves that a revocation bites, not its speed."""


def eventually(condition: Callable[[], bool], patience: float = PATIENCE_SECONDS) -> bool:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
