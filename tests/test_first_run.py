"""A newcomer's first commands: every mistake is one line naming its cause, exit status 1,
and the advice fits the cause (never `migrate` for a database newer than the code)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import make_url, text

from tests.conftest import TEST_SECRET
from tests.databases import POSTGRES_URL, fresh_sqlite, sync_engine
from tests.servers import NOTES_API, free_port


def notes_api(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NOTES_API, *args],
        env={**os.environ, "JWT_SECRET_KEY": TEST_SECRET, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://user@localhost/notes", "not a mysql URL"),
        ("notaurl", "DATABASE_URL: must be sqlite:///path/to/file.db or postgresql://"),
    ],
)
def test_an_unsupported_database_url_is_one_line(tmp_path: Path, url: str, says: str) -> None:
    line = one_error_line(notes_api("migrate", cwd=tmp_path, DATABASE_URL=url))
    assert says in line


@pytest.mark.skipif(POSTGRES_URL is None, reason="needs TEST_DATABASE_URL")
def test_a_missing_postgresql_database_is_named_with_the_driver_s_reason(tmp_path: Path) -> None:
    assert POSTGRES_URL is not None
    password = "s3cret-" + secrets.token_hex(4)
    name = f"notes_missing_{secrets.token_hex(4)}"
    url = POSTGRES_URL.replace("postgres@", f"postgres:{password}@", 1).rsplit("/", 1)[0]
    line = one_error_line(notes_api("migrate", cwd=tmp_path, DATABASE_URL=f"{url}/{name}"))
    assert line.startswith("error: cannot reach the database: ")
    assert f'database "{name}" does not exist' in line
    assert password not in line


def test_a_database_newer_than_the_code_is_one_line_without_migrate_advice(
    sqlite_template: Path, tmp_path: Path
) -> None:
    database_url = fresh_sqlite(sqlite_template, tmp_path)
    with sync_engine(database_url) as engine, engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    for command in (["migrate"], ["users"]):
        line = one_error_line(notes_api(*command, cwd=tmp_path, DATABASE_URL=database_url))
        assert "revision 9999_from_the_future, which this notes-api does not know" in line
        assert "migrate" not in line.replace("a newer notes-api migrated it", "")


def test_a_command_on_an_unmigrated_database_says_run_migrate(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'empty.db'}"
    line = one_error_line(notes_api("users", cwd=tmp_path, DATABASE_URL=database_url))
    assert line == "error: the database has no notes-api schema: run `notes-api migrate`"


def test_serve_on_an_unmigrated_database_warns_and_logs_run_migrate(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [NOTES_API, "serve", "--port", str(port)],
            env={
                **os.environ,
                "JWT_SECRET_KEY": TEST_SECRET,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
            },
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, process)
        answer = httpx2.post(f"{base}/token", data={"username": "a", "password": "b" * 8})
        assert answer.status_code == 503
        assert httpx2.get(f"{base}/readyz").status_code == 503
    finally:
        process.terminate()
        process.wait(timeout=30)
    output_text = log.read_text()
    assert (
        "warning: the database has no notes-api schema: run `notes-api migrate`"
        in output_text.splitlines()[0]
    )
    assert "database schema missing: POST /token: run `notes-api migrate`" in output_text


def wait_until_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        assert process.poll() is None, "the server exited"
        try:
            if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")


def test_an_unusable_test_database_stops_the_suite_with_one_message(tmp_path: Path) -> None:
    nothing_listens = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_health.py"],
        cwd=Path(__file__).resolve().parents[1],
        env={**outside_xdist(), "TEST_DATABASE_URL": nothing_listens},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 3, result.stdout
    assert f"TEST_DATABASE_URL={nothing_listens} cannot be used: " in result.stdout
    assert "Connection refused" in result.stdout
    assert " passed" not in result.stdout
    assert " error" not in result.stdout


@pytest.mark.skipif(POSTGRES_URL is None, reason="needs TEST_DATABASE_URL")
def test_a_missing_test_database_is_created_and_the_tests_run_on_it() -> None:
    """TEST_DATABASE_URL may name a database the server lacks (a fresh machine): the suite
    creates it instead of failing every PostgreSQL test."""
    assert POSTGRES_URL is not None
    name = f"notes_created_{secrets.token_hex(4)}"
    missing = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    assert not database_exists(POSTGRES_URL, name)
    try:
        result = subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
                "tests/test_health.py::test_readyz_is_ready_on_a_migrated_database[postgresql]",
            ],
            cwd=Path(__file__).resolve().parents[1],
            env={**outside_xdist(), "TEST_DATABASE_URL": missing},
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 passed" in result.stdout
        assert database_exists(POSTGRES_URL, name)
    finally:
        with sync_engine(POSTGRES_URL) as engine, engine.connect() as connection:
            # DROP DATABASE cannot run inside a transaction.
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            )


def outside_xdist() -> dict[str, str]:
    """This environment for a pytest of its own: an xdist worker's id would send it to that
    worker's database (tests/databases.py) instead of the one it is given."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}


def database_exists(url: str, name: str) -> bool:
    with sync_engine(url) as engine, engine.connect() as connection:
        found = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        return found.scalar() is not None
