"""The per-worker revocation cache on its own: what no HTTP test can reach on SQLite
(the PostgreSQL listener's notices, out-of-order notices, the exact cut-off instant,
pruning)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest

from notes_api.auth import revocation_cache
from notes_api.auth.revocation_cache import RevocationCache, TokenRevokedError, cache_window

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


def test_what_a_poll_merges_is_refused_and_kept_as_long_as_the_window() -> None:
    """The SQLite feed's poll: sessions ended and cut-offs, each with its time."""
    cache = confirmed_cache()
    now = time.time()
    cache.merge(ended=[("ended", now - WINDOW + 30)], cut_offs=[(7, now - WINDOW + 30)])
    cache.prune()
    with pytest.raises(TokenRevokedError):
        cache.check(1, "ended", now)
    with pytest.raises(TokenRevokedError):
        cache.check(7, "live", now - WINDOW)
    cache.check(8, "live", now - WINDOW)
    assert len(cache) == 2


def test_an_entry_exactly_as_old_as_the_window_is_still_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A token issued before it may still be presented at that instant."""
    monkeypatch.setattr(revocation_cache, "time", SimpleNamespace(time=lambda: 10_000.0))
    cache = confirmed_cache()
    cache.session_ended("sid", 10_000.0 - WINDOW)
    cache.cut_off(7, 10_000.0 - WINDOW)
    cache.prune()
    assert cache.has_ended("sid")
    assert len(cache) == 2


def test_the_window_is_the_token_lifetime_plus_a_minute_for_clock_skew() -> None:
    assert cache_window(timedelta(minutes=15)) == 15 * 60 + 60


def test_a_confirmation_is_trusted_for_trust_seconds_and_no_longer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = RevocationCache(window_seconds=WINDOW, trust_seconds=1.0)
    cache.confirm(100.0)
    current = []
    for now in (100.5, 101.0, 101.001):
        monkeypatch.setattr(
            revocation_cache, "time", SimpleNamespace(monotonic=lambda now=now: now)
        )
        current.append(cache.is_current())
    assert current == [True, True, False]


def test_a_confirmation_from_another_thread_wakes_a_request_waiting_for_it() -> None:
    """The feed may confirm on another event loop than the request's (a test client's
    portal thread): the waiter is woken on its own loop, at once, not at its deadline."""
    cache = RevocationCache(window_seconds=WINDOW, trust_seconds=1.0, catch_up_seconds=30.0)
    feed = threading.Timer(0.05, lambda: cache.confirm(time.monotonic()))

    async def request() -> float:
        started = time.monotonic()
        feed.start()
        await cache.wait_until_current()
        return time.monotonic() - started

    waited = asyncio.run(request())

    assert cache.is_current()
    assert waited < 5.0


def test_a_request_stops_waiting_after_catch_up_seconds_and_is_refused() -> None:
    cache = RevocationCache(window_seconds=WINDOW, trust_seconds=1.0, catch_up_seconds=0.05)

    asyncio.run(cache.wait_until_current())

    with pytest.raises(revocation_cache.RevocationStateUnknownError):
        cache.check(7, "sid", time.time())


def test_a_request_that_stopped_waiting_leaves_no_waiter_behind() -> None:
    """During an outage every bearer request times out waiting: none may stay registered."""
    cache = RevocationCache(window_seconds=WINDOW, trust_seconds=1.0, catch_up_seconds=0.01)

    asyncio.run(cache.wait_until_current())

    assert cache._waiters == {}


def test_a_waiter_whose_event_loop_closed_does_not_break_the_feeds_confirmation() -> None:
    cache = RevocationCache(window_seconds=WINDOW, trust_seconds=1.0, catch_up_seconds=30.0)
    loop = asyncio.new_event_loop()
    waiting = loop.create_task(cache.wait_until_current())
    loop.run_until_complete(asyncio.sleep(0.01))  # the request is waiting now
    waiting._log_destroy_pending = False  # type: ignore[attr-defined] # abandoned on purpose
    loop.close()

    cache.confirm(time.monotonic())

    assert cache.is_current()
