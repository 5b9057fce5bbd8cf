"""The outbox's retry schedule, a pure function: 1 s, doubling, never more than 5 minutes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from notes_api.mail.outbox import retry_delay


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [
        (0, 1),  # never below the first delay
        (1, 1),
        (2, 2),
        (3, 4),
        (4, 8),
        (9, 256),
        (10, 300),  # 512 s, capped at 5 minutes
        (11, 300),
        (1_000_000, 300),  # no overflow however long the server stays down
    ],
)
def test_a_failed_mail_waits_1_s_doubling_up_to_5_minutes(attempts: int, seconds: int) -> None:
    assert retry_delay(attempts) == timedelta(seconds=seconds)
