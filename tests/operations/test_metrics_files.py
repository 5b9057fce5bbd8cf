"""Multiprocess mode: `notes-api serve` prepares the directory, and dead workers leave the sums."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx2
import pytest

from notes_api.metrics_files import MULTIPROC_DIR_VARIABLE, metrics_directory
from tests.conftest import TEST_SECRET, MakeUser
from tests.operations.scrape import parse
from tests.operations.test_prometheus import count_per_worker, live_workers, wait_for
from tests.servers import running_server


def test_serve_empties_the_directory_of_an_earlier_run_and_keeps_other_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("counter_123.db", "histogram_123.db", "gauge_livesum_123.db", "notes.txt"):
        (tmp_path / name).write_text("x")
    monkeypatch.setenv(MULTIPROC_DIR_VARIABLE, str(tmp_path))
    with metrics_directory(workers=2) as directory:
        assert directory == tmp_path
        assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]
    assert tmp_path.exists()  # the operator's directory stays


def test_serve_with_several_workers_uses_a_private_directory_removed_at_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_DIR_VARIABLE, raising=False)
    with metrics_directory(workers=2) as directory:
        assert directory is not None
        assert os.environ[MULTIPROC_DIR_VARIABLE] == str(directory)
        assert directory.is_dir()
    assert not directory.exists()
    assert MULTIPROC_DIR_VARIABLE not in os.environ


def test_one_worker_without_a_directory_stays_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_DIR_VARIABLE, raising=False)
    with metrics_directory(workers=1) as directory:
        assert directory is None
        assert MULTIPROC_DIR_VARIABLE not in os.environ


def test_a_killed_worker_leaves_the_gauges_and_its_counts_stay_in_the_totals(
    database_url: str, make_user: MakeUser, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": TEST_SECRET,
        "APP_ENV": "development",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "multiproc"),
    }
    scraper = make_user(roles=["metrics"])
    with running_server(env) as api:
        form = {"username": scraper.username, "password": scraper.password}
        token = httpx2.post(f"{api}/token", data=form, timeout=10).json()["access_token"]
        wait_for(lambda: len(live_workers(api, token)) == 2)
        logins = count_per_worker(
            tmp_path / "multiproc", "notes_api_logins_total", outcome="succeeded"
        )
        victim = str(next(pid for pid, count in logins.items() if count == 1))
        os.kill(int(victim), signal.SIGKILL)  # uvicorn starts a new worker in its place
        after = wait_for(
            lambda: len(pids := live_workers(api, token)) == 2 and victim not in pids and pids
        )
        scrape = httpx2.get(f"{api}/metrics", headers={"Authorization": f"Bearer {token}"}).text
    assert victim not in after
    assert (
        parse(scrape)[("notes_api_logins_total", frozenset({("outcome", "succeeded")}))] == 1
    )  # counted by the worker that is gone
