"""A run cut off from outside (CI's time limit sends SIGTERM) says where its time went.

pytest prints `--durations` only at the end of a run that ends; a terminated run would
leave nothing but progress dots. On SIGTERM this plugin writes the tests still running,
with how long each has run, and the slowest finished so far, then ends as SIGTERM would.
"""

from __future__ import annotations

import os
import signal
import time
from types import FrameType

import pytest

SLOWEST_SHOWN = 25

_started_at = time.monotonic()
_running: dict[str, float] = {}  # test id -> when its set-up started
_finished: dict[str, float] = {}  # test id -> seconds, set-up to teardown
_config: list[pytest.Config] = []


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller hears of every test and reports them all
    _config.append(config)
    signal.signal(signal.SIGTERM, _report_and_end)


# Under pytest-xdist the controller hears these for every worker's tests, as they happen.
def pytest_runtest_logstart(nodeid: str) -> None:
    _running[nodeid] = time.monotonic()
    # A server run in-process (uvicorn, the CLI) may leave its own SIGTERM handling behind.
    if _config and signal.getsignal(signal.SIGTERM) is not _report_and_end:
        signal.signal(signal.SIGTERM, _report_and_end)


def pytest_runtest_logfinish(nodeid: str) -> None:
    started = _running.pop(nodeid, None)
    if started is not None:
        _finished[nodeid] = time.monotonic() - started


def _report_and_end(signum: int, _frame: FrameType | None) -> None:
    try:
        now = time.monotonic()
        slowest = sorted(_finished.items(), key=lambda item: -item[1])[:SLOWEST_SHOWN]
        lines = [
            "",
            f"Terminated (SIGTERM) {now - _started_at:.0f} s into the run, "
            f"after {len(_finished)} tests.",
            "Still running:",
            *(f"  {now - started:8.1f}s  {nodeid}" for nodeid, started in _running.items()),
            f"Slowest finished (set-up to teardown), {len(slowest)} of them:",
            *(f"  {seconds:8.1f}s  {nodeid}" for nodeid, seconds in slowest),
        ]
        # The running test's output is being captured: the report goes to the terminal.
        capture = _config[0].pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.suspend_global_capture(in_=False)
        os.write(2, ("\n".join(lines) + "\n").encode())  # unbuffered: no reentrant write
    finally:
        # Whatever went wrong above, the run still ends as SIGTERM ends it.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
