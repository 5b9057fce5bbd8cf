"""The browser fixtures' close has a bound: a Chromium that never answers cannot hang the run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.web.closing import close_within
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]

# Run in a process of its own: close_within kills every Playwright driver of the process that
# calls it, and this test's process holds the session's browser.
STUCK_BROWSER = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from playwright.sync_api import sync_playwright
    from tests.web.closing import close_within, playwright_processes

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=sys.argv[1], args=sys.argv[2:])
        context = browser.new_context()
        context.new_page().goto("data:text/html,<p>stuck</p>")
        # Chromium stopped: it reads no more commands, as when it hung.
        for pid in playwright_processes():
            if b"chromium" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        killed = close_within(context.close, "The stuck context", seconds=2)
        print(killed, time.monotonic() - started)
    print("left", len(playwright_processes()))
    """
)


@pytest.mark.browser
def test_a_close_that_never_returns_is_ended_by_killing_the_browser() -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing")
    finished = subprocess.run(
        [sys.executable, "-c", STUCK_BROWSER, str(CHROMIUM), *CHROMIUM_ARGS],
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
    assert "The stuck context did not close within 2 s" in finished.stderr


def test_a_close_that_returns_in_time_kills_nothing() -> None:
    closed: list[bool] = []
    assert close_within(lambda: closed.append(True), "Nothing", seconds=60) is False
    assert closed == [True]
