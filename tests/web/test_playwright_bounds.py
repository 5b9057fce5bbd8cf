"""Playwright's calls without a timeout get one: a Chromium that never answers cannot hang
the run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.web.playwright_bounds import close_within, within_bound

ROOT = Path(__file__).resolve().parents[2]

# Run in a process of its own: the bound kills every Playwright driver of the process whose
# call outlived it, and this test's process holds the session's browser.
STUCK_BROWSER = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from playwright.sync_api import sync_playwright
    from tests.web.playwright_bounds import (
        PlaywrightKilledError, close_within, playwright_processes, within_bound,
    )

    call = sys.argv[1]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=sys.argv[2], args=sys.argv[3:])
        context = browser.new_context()
        context.new_page().goto("data:text/html,<p>stuck</p>")
        # Chromium stopped: it reads no more commands, as when it hung.
        for pid in playwright_processes():
            if b"chromium" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        if call == "close":
            killed = close_within(context.close, "The stuck context", seconds=2)
        else:
            try:
                within_bound(context.new_page, "A page of the stuck context", seconds=2)
                killed = False
            except PlaywrightKilledError as error:
                print(error, file=sys.stderr)
                killed = True
        print(killed, time.monotonic() - started)
    print("left", len(playwright_processes()))
    """
)


@pytest.mark.browser
@pytest.mark.parametrize(
    ("call", "said"),
    [
        ("close", "The stuck context did not finish within 2 s"),
        ("open", "A page of the stuck context did not finish within 2 s"),
    ],
)
def test_a_call_that_never_returns_is_ended_by_killing_the_browser(call: str, said: str) -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing")
    finished = subprocess.run(
        [sys.executable, "-c", STUCK_BROWSER, call, str(CHROMIUM), *CHROMIUM_ARGS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    killed, seconds, *left = finished.stdout.split()
    assert killed == "True", finished.stdout
    assert 2 <= float(seconds) < 30, finished.stdout  # after its 2 seconds, not never
    assert left == ["left", "0"], finished.stdout
    assert said in finished.stderr


def test_a_close_that_returns_in_time_kills_nothing() -> None:
    closed: list[bool] = []
    assert close_within(lambda: closed.append(True), "Nothing", seconds=60) is False
    assert closed == [True]


def test_a_call_that_raises_in_time_raises_its_own_error() -> None:
    def fails() -> None:
        raise PlaywrightError("Target page, context or browser has been closed")

    with pytest.raises(PlaywrightError, match="has been closed"):
        within_bound(fails, "Nothing", seconds=60)
