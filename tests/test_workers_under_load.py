"""`notes-api serve` with several workers comes up on a CPU it has to share.

uvicorn starts each worker as a fresh interpreter (multiprocessing's spawn) and kills one
that does not answer its health ping in time. On a loaded machine, or in a container with
a CPU limit, a worker's start-up is several times slower than its CPU time: it must not be
killed for that, over and over, leaving a server that never answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from tests.conftest import TEST_SECRET
from tests.servers import NOTES_API, free_port

WORKER_START_SECONDS = 10
"""How long each worker's start-up is made to take: twice uvicorn's default health check."""
DEADLINE_SECONDS = 60
"""For the workers to be up once they are started; they take 10 to 20 s here."""

needs_affinity = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux's (os.sched_setaffinity)"
)


def startup_on(cpu: int) -> tuple[float, float]:
    """A new interpreter importing the application, as each worker does, alone on `cpu` but
    for what else the machine runs there: its CPU time, and how much longer it took."""
    started = time.monotonic()
    measured = subprocess.Popen(
        [sys.executable, "-c", "import time, notes_api.main; print(time.process_time())"],
        stdout=subprocess.PIPE,
        text=True,
    )
    os.sched_setaffinity(measured.pid, {cpu})
    output, _ = measured.communicate()
    cpu_seconds = float(output)
    return cpu_seconds, (time.monotonic() - started) / cpu_seconds


@contextmanager
def busy_loops(count: int, cpu: int) -> Iterator[None]:
    """`count` processes spinning on `cpu`: each takes as large a share of it as a worker."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        for loop in loops:
            os.sched_setaffinity(loop.pid, {cpu})
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while text not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"no {text!r} in:\n{log.read_text()}"
        time.sleep(0.05)


@needs_affinity
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the database plays no part
def test_two_workers_come_up_and_answer_while_the_cpu_is_contended(
    database_url: str, tmp_path: Path
) -> None:
    cpu = max(os.sched_getaffinity(0))
    # On `cpu`, each worker shares its time with the other worker, the busy loops, and what
    # else runs there (`slowdown` - 1 processes' worth): enough loops to slow it down from
    # `cost` to WORKER_START_SECONDS, whatever the machine's speed and load.
    cost, slowdown = startup_on(cpu)
    loops = max(0, round(WORKER_START_SECONDS / cost - 1 - slowdown))
    contention = f"start-up {cost:.1f} s of CPU, slowed x{slowdown:.1f}, {loops} busy loops"
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": TEST_SECRET,
        "APP_ENV": "development",
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "info",
    }
    port = free_port()
    with log.open("wb") as output:
        server = subprocess.Popen(
            [NOTES_API, "serve", "--port", str(port)], env=env, stdout=output, stderr=output
        )
    try:
        os.sched_setaffinity(server.pid, {cpu})  # long before it starts its workers
        # The parent's own start-up is not what is tested: contention starts with the workers.
        wait_for_line(log, "Started parent process", server)
        with busy_loops(loops, cpu):
            deadline = time.monotonic() + DEADLINE_SECONDS
            while log.read_text().count("Application startup complete") < 2:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"{contention}:\n{log.read_text()}"
                time.sleep(0.1)
            answer = httpx2.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
    finally:
        server.terminate()
        server.wait(timeout=60)

    assert answer.status_code == 200
    assert "died" not in log.read_text()  # uvicorn: "Child process [...] died"


def test_a_new_worker_runs_the_console_script_without_the_command_line() -> None:
    """What each spawned worker does first, before it can answer a ping: multiprocessing
    runs the parent's main script (the console script) as `__mp_main__`."""
    code = (
        f"import runpy, sys; runpy.run_path({NOTES_API!r}, run_name='__mp_main__'); "
        "print(*(name for name in ('notes_api.cli', 'sqlalchemy', 'alembic', 'fastapi', "
        "'pydantic') if name in sys.modules))"
    )
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split() == []
