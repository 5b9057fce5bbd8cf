"""Playwright's calls that have no timeout, given one.

Playwright waits with no time limit for Chromium to open a context or a page, and to close
them or itself. Chromium does not always answer: CI's run of ee64c84 hung in the teardown of
the last browser test, which closes the page's context and then the session's browser, until
the job's 90 minutes were up. Every other browser wait in the suite has a timeout.

Past the bound, the Playwright driver and every process it started are killed. The pending
call then fails with Playwright's own error instead of never returning, and so does every
later call on that driver: the browser tests after it fail at once rather than hang in turn.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

from bench import servers
from playwright.sync_api import Error as PlaywrightError

BOUND_SECONDS = 30
DRIVER_ARGUMENT = b"run-driver"  # node .../playwright/driver/package/cli.js run-driver

T = TypeVar("T")


class PlaywrightKilledError(Exception):
    """A Playwright call outlived its bound, and the driver was killed to end it."""


def within_bound(call: Callable[[], T], what: str, seconds: float = BOUND_SECONDS) -> T:
    """`call()`, or PlaywrightKilledError once `seconds` have passed and the Playwright
    driver this process started, with its browsers, has been killed to end it."""
    lock = threading.Lock()
    returned = killed = False

    def kill_if_still_running() -> None:
        nonlocal killed
        with lock:  # never kill a driver whose call has just returned
            if returned:
                return
            killed = True
        for pid in playwright_processes():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    timer = threading.Timer(seconds, kill_if_still_running)
    timer.daemon = True
    timer.start()
    try:
        return call()
    except PlaywrightError as error:
        if killed:
            raise PlaywrightKilledError(
                f"{what} did not finish within {seconds} s: Playwright killed"
            ) from error
        raise
    finally:
        with lock:
            returned = True
        timer.cancel()


def close_within(close: Callable[[], object], what: str, seconds: float = BOUND_SECONDS) -> bool:
    """`close()` within the bound; past it, the kill is the close. True when it had to."""
    try:
        within_bound(close, what, seconds)
    except PlaywrightKilledError as killed:
        # Said on the real stderr, past pytest's capture: a hang is worth knowing about even
        # when the run goes on.
        print(f"\n{killed}", file=sys.__stderr__)
        return True
    return False


def playwright_processes() -> list[int]:
    """This process's Playwright drivers and everything under them, deepest first."""
    children = _children_by_parent()
    found: list[int] = []

    def under(pid: int) -> Iterator[int]:
        for child in children.get(pid, []):
            yield from under(child)
            yield child

    for child in children.get(os.getpid(), []):
        if DRIVER_ARGUMENT in _command_line(child):
            found.extend(under(child))
            found.append(child)
    return found


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid, stat in servers.process_stats():
        # The parent's pid is the second field after the command, which may hold spaces
        # and parentheses itself: split after its closing one.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(pid)
    return children


def _command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
