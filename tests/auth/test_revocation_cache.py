"""The per-worker revocation cache on its own: what no HTTP test can reach on SQLite
(the PostgreSQL listener's notices, out-of-order notices, the exact cut-off instant,
pruning)."""

from __future__ import annotations

import math
import time

import pytest

from notes_api.auth.revocation_cache import RevocationCache, TokenRevokedError

WINDOW = 60.0


def confirmed_cache() -> RevocationCache:
    cache = RevocationCache(window_seconds=WINDOW, trust_seconds=math.inf)
    cache.confirm(time.monotonic())
    return cache


def test_a_token_issued_at_the_cut_off_instant_is_accepted() -> None:
    """Refused are tokens issued *before* the cut-off; a token of that very instant is
    not one the change could have been meant to stop."""
    cache = confirmed_cache()
    cache.cut_off(7, 1_000.0)
    cache.check(7, "sid", 1_000.0)
    with pytest.raises(TokenRevokedError):
        cache.check(7, "sid", 999.999)


def test_a_late_notice_of_an_earlier_cut_off_does_not_shorten_a_later_one() -> None:
    cache = confirmed_cache()
    cache.cut_off(7, 2_000.0)
    cache.cut_off(7, 1_000.0)
    with pytest.raises(TokenRevokedError):
        cache.check(7, "sid", 1_500.0)


def test_a_session_ended_without_a_time_is_remembered_through_pruning() -> None:
    """The PostgreSQL listener's notice names no time: the cache stamps it now."""
    cache = confirmed_cache()
    cache.session_ended("sid")
    cache.prune()
    with pytest.raises(TokenRevokedError):
        cache.check(7, "sid", time.time())


def test_a_session_ended_at_a_given_time_is_pruned_by_that_time() -> None:
    """The SQLite feed passes when the session ended: one that ended longer ago than the
    window is forgotten at the next prune, however recently the cache heard of it."""
    cache = confirmed_cache()
    cache.session_ended("old", time.time() - WINDOW - 1)
    cache.session_ended("recent", time.time() - WINDOW + 30)
    cache.prune()
    assert not cache.has_ended("old")
    assert cache.has_ended("recent")
