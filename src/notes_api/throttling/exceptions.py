"""What the login throttle raises, and what it lets through untouched."""

from __future__ import annotations


class LoginThrottledError(Exception):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class AttemptSettledError(Exception):
    """A refusal raised after its attempt got its verdict (counted as a failure): the
    throttle's `settled` lets it through without counting the attempt again."""
