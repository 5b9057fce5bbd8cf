"""Closing Playwright's Chromium within a bound.

Playwright waits for Chromium to answer a close with no time limit. Chromium does not always
answer: CI's run of ee64c84 hung in the teardown of the last browser test, which closes the
page's context and then the session's browser, until the job's 90 minutes were up. Every other
browser wait in the suite has a timeout; these are the ones Playwright offers none for.

Past the bound, the Playwright driver and every process it started are killed. Playwright's
pending call then fails with its own error, instead of never returning, and so does any later
call on that driver.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError

CLOSE_SECONDS = 30
DRIVER_ARGUMENT = b"run-driver"  # node .../playwright/driver/package/cli.js run-driver


def close_within(close: Callable[[], object], what: str, seconds: float = CLOSE_SECONDS) -> bool:
    """Run `close`. If it has not returned after `seconds`, kill the Playwright driver this
    process started, and its browsers, so that it returns. True when it had to."""
    lock = threading.Lock()
    returned = killed = False

    def kill_if_still_closing() -> None:
        nonlocal killed
        with lock:  # never kill a driver whose close has just returned
            if returned:
                return
            killed = True
        for pid in playwright_processes():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    timer = threading.Timer(seconds, kill_if_still_closing)
    timer.daemon = True
    timer.start()
    try:
        close()
    except PlaywrightError:
        if not killed:
            raise
    finally:
        with lock:
            returned = True
        timer.cancel()
    if killed:
        # Said on the real stderr, past pytest's capture: a hang is worth knowing about even
        # when the run goes on.
        print(f"\n{what} did not close within {seconds} s: Playwright killed", file=sys.__stderr__)
    return killed


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
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            # The parent's pid is the second field after the command, which may hold spaces
            # and parentheses itself: split after its closing one.
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    return children


def _command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
