"""docker/entrypoint.sh run for real, as the container runs it, on fresh PostgreSQL databases.

They run on TEST_DATABASE_URL's server (CI always sets it, and an unreachable server
fails them); without it, as on a newcomer's machine with no PostgreSQL, they are
skipped. Each test creates its own database and drops it.
"""

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from notes_api.schema_migrations import head_revision
from tests.databases import POSTGRES_URL
from tests.deploy.dockerfile import ROOT, parse
from tests.servers import free_port

ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
VENV_BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(POSTGRES_URL is None, reason="needs TEST_DATABASE_URL")
SERVER_URL = make_url(POSTGRES_URL or "postgresql+psycopg://unset/postgres")
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 40


def migration_lock_id() -> int:
    """The advisory lock key migrations/env.py takes (that module cannot be imported)."""
    source = (ROOT / "migrations" / "env.py").read_text()
    match = re.search(r"MIGRATION_LOCK_ID = (0x[0-9A-Fa-f]+)", source)
    assert match, "migrations/env.py no longer defines MIGRATION_LOCK_ID"
    return int(match[1], 16)


def connect(database_url: str) -> psycopg.Connection[tuple[object, ...]]:
    url = make_url(database_url).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    return connect(SERVER_URL.set(database="postgres").render_as_string(hide_password=False))


@pytest.fixture
def fresh_database() -> Iterator[Callable[[], str]]:
    """`fresh_database()` creates an empty, uniquely named database and returns its URL."""
    created: list[str] = []

    def create() -> str:
        name = f"notes_entrypoint_{secrets.token_hex(6)}"
        with admin_connection() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return SERVER_URL.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )

    yield create
    with admin_connection() as connection:
        for name in created:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Container:
    """One run of the entrypoint, in its own process group, logs kept in files."""

    process: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def wait_until_ready(self, workers: int = 1) -> None:
        """Until /readyz answers 200 and `workers` server processes have finished starting.

        One worker answering is enough for a client, but not for `stop`'s check: uvicorn's
        supervisor terminates a worker still starting up, which then logs no shutdown. On
        a slow machine the second worker can take a second longer than the first.
        """
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"entrypoint exited with {self.process.returncode}:\n{self.output()}")
            started = self.stderr.read_text().count("Application startup complete.")
            if started >= workers and get(self.url("/readyz"))[0] == 200:
                return
            time.sleep(0.2)
        pytest.fail(f"not ready after {START_TIMEOUT_SECONDS}s:\n{self.output()}")

    def stop(self) -> None:
        """SIGTERM, as `docker stop` sends it, and check the server shut down gracefully.

        With workers, uvicorn's supervisor exits 0. A single server process, once shut
        down, re-raises the signal it caught, so it ends "killed by SIGTERM" (Docker's
        143) after its lifespan has completed: the log says which happened.
        """
        os.killpg(self.process.pid, signal.SIGTERM)
        status = self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        assert status in (0, -signal.SIGTERM), self.output()
        log = self.stderr.read_text()
        workers = log.count("Started server process")
        assert workers >= 1
        assert log.count("Application shutdown complete.") == workers, log
        assert log.count("Finished server process") == workers, log


StartContainer = Callable[..., Container]


@pytest.fixture
def start_entrypoint(tmp_path: Path) -> Iterator[StartContainer]:
    """Start the entrypoint with a container-like environment; kill leftovers at the end."""
    assert (VENV_BIN / "notes-api").is_file(), "run the tests from the project's virtualenv"
    started: list[Container] = []

    def start(database_url: str, **settings: str) -> Container:
        port = free_port()
        run_dir = tmp_path / f"run-{port}"  # the working directory: no stray .env is read
        run_dir.mkdir()
        env = {
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
            "LANG": "C.UTF-8",
            "APP_ENV": "production",
            "DATABASE_URL": database_url,
            "JWT_SECRET_KEY": secrets.token_hex(32),
            "PORT": str(port),
            **settings,
        }
        stdout, stderr = run_dir / "stdout.log", run_dir / "stderr.log"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [str(ENTRYPOINT)],
                cwd=run_dir,
                env=env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        container = Container(process, port, stdout, stderr)
        started.append(container)
        return container

    yield start
    for container in started:
        if container.process.poll() is None:
            os.killpg(container.process.pid, signal.SIGKILL)
            container.process.wait()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return request(urllib.request.Request(url, headers=headers or {}))


def post_form(url: str, fields: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    body = urllib.parse.urlencode(fields).encode()
    return request(urllib.request.Request(url, data=body, method="POST"))


def request(req: urllib.request.Request) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, {}, b""


def healthcheck_command() -> str:
    """The Dockerfile's HEALTHCHECK command, run by the container's /bin/sh."""
    instructions = parse((ROOT / "Dockerfile").read_text())
    (healthcheck,) = [i for i in instructions if i.keyword == "HEALTHCHECK"]
    return healthcheck.arguments.split(" CMD ", 1)[1]


def run_healthcheck(port: int) -> int:
    env = {"PATH": os.environ["PATH"], "PORT": str(port)}
    command = healthcheck_command().replace("python ", f"{sys.executable} ", 1)
    return subprocess.run(["/bin/sh", "-c", command], env=env, check=False).returncode


def login(container: Container, username: str, password: str) -> dict[str, str]:
    status, _, body = post_form(
        container.url("/token"), {"username": username, "password": password}
    )
    assert status == 200, body
    tokens: dict[str, str] = json.loads(body)
    return tokens


def test_entrypoint_migrates_creates_the_admin_serves_and_stops_gracefully(
    fresh_database: Callable[[], str], start_entrypoint: StartContainer
) -> None:
    admin_password = secrets.token_urlsafe(18)
    container = start_entrypoint(
        fresh_database(),
        WEB_CONCURRENCY="2",
        LOG_FORMAT="json",
        ADMIN_USERNAME="admin",
        ADMIN_PASSWORD=admin_password,
    )
    container.wait_until_ready(workers=2)

    status, headers, body = get(container.url("/readyz"), {"X-Request-ID": "probe-1"})
    assert (status, json.loads(body)) == (200, {"status": "ready", "detail": None})
    assert headers["x-request-id"] == "probe-1"
    assert run_healthcheck(container.port) == 0

    tokens = login(container, "admin", admin_password)
    status, _, body = get(
        container.url("/identify/me"), {"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert status == 200
    assert json.loads(body)["roles"] == ["admin", "user"]

    server_environment = Path(f"/proc/{container.process.pid}/environ").read_bytes()
    assert b"ADMIN_PASSWORD=" not in server_environment, "the entrypoint unsets it before exec"
    assert b"ADMIN_USERNAME=admin" in server_environment

    # The server itself gets the SIGTERM: `exec` made it the entrypoint's process.
    container.stop()
    assert container.process.returncode == 0  # the supervisor of two workers
    assert run_healthcheck(container.port) != 0

    stdout = container.stdout.read_text().splitlines()
    assert stdout == [
        f"database at revision {head_revision()}",
        "created administrator admin with roles: admin,user",
    ]
    server_lines = [json.loads(line) for line in container.stderr.read_text().splitlines()]
    messages = [line["message"] for line in server_lines]
    assert messages.count("Application shutdown complete.") == 2  # both workers' lifespans
    assert "Received SIGTERM, exiting." in messages
    access = [line for line in server_lines if line["logger"] == "notes_api.access"]
    assert {"probe-1"} <= {line["request_id"] for line in access}
    everything = container.output()
    for secret in (admin_password, tokens["access_token"], tokens["refresh_token"]):
        assert secret not in everything


def test_two_concurrent_starts_migrate_one_after_the_other_and_both_serve(
    fresh_database: Callable[[], str], start_entrypoint: StartContainer
) -> None:
    database_url = fresh_database()
    database = make_url(database_url).database
    admin_password = secrets.token_urlsafe(18)
    lock_id = migration_lock_id()
    with admin_connection() as watcher, connect(database_url) as holder:
        # Hold the migration lock, as a third instance in the middle of migrating would.
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_id,))
        containers = [
            start_entrypoint(database_url, ADMIN_USERNAME="admin", ADMIN_PASSWORD=admin_password)
            for _ in range(2)
        ]
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while waiting_for_lock(watcher, database, lock_id) < 2:
            assert time.monotonic() < deadline, [c.output() for c in containers]
            assert all(c.process.poll() is None for c in containers), [
                c.output() for c in containers
            ]
            time.sleep(0.1)
        # Both wait on the lock, so neither has created a table yet.
        assert tables(database_url) == []
        holder.execute("SELECT pg_advisory_unlock(%s)", (lock_id,))

    for container in containers:
        container.wait_until_ready()
    for container in containers:
        login(container, "admin", admin_password)
    outputs = sorted(container.stdout.read_text() for container in containers)
    revision = f"database at revision {head_revision()}\n"
    assert outputs == [
        revision + "created administrator admin with roles: admin,user\n",
        revision + "user admin already exists: left unchanged\n",
    ]
    assert set(tables(database_url)) >= {"alembic_version", "users", "roles", "user_roles"}
    for container in containers:
        container.stop()
        assert admin_password not in container.output()


def waiting_for_lock(
    connection: psycopg.Connection[tuple[object, ...]], database: str | None, lock_id: int
) -> int:
    """Sessions queued on the migration advisory lock in `database` (pg_locks splits the key)."""
    row = connection.execute(
        """
        SELECT count(*) FROM pg_locks JOIN pg_database ON pg_database.oid = pg_locks.database
        WHERE locktype = 'advisory' AND NOT granted AND datname = %s
          AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1
        """,
        (database, lock_id >> 32, lock_id & 0xFFFFFFFF),
    ).fetchone()
    assert row is not None
    count = row[0]
    assert isinstance(count, int)
    return count


def tables(database_url: str) -> list[str]:
    with connect(database_url) as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
    return [str(row[0]) for row in rows]
