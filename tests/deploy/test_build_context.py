"""The image's build stage, reproduced without Docker: the wheel is built from exactly the
files the Dockerfile's build stage copies (read from its COPY lines), and must carry
everything the running container reads: migrations, alembic.ini, the web page, the docs'
own assets. Building from the whole work tree instead hid a missing `COPY web/` once."""

import json
import os
import secrets
import signal
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from notes_api.schema_migrations import head_revision
from tests.databases import POSTGRES_URL
from tests.deploy.dockerfile import ROOT, copy_build_context, parse, stages, uv_command
from tests.deploy.test_entrypoint import ENTRYPOINT, Container, fresh_database, get, login
from tests.servers import free_port

BUILD_STAGE = stages(parse((ROOT / "Dockerfile").read_text()))[0]


def repository_files(folder: str, suffixes: tuple[str, ...] = ()) -> set[str]:
    """Tracked-looking files under `folder` (caches and bytecode left out), relative to it."""
    base = ROOT / folder
    return {
        path.relative_to(base).as_posix()
        for path in base.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix != ".pyc"
        and (not suffixes or path.suffix in suffixes)
    }


@pytest.fixture(scope="module")
def build_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    context = tmp_path_factory.mktemp("context")
    copy_build_context(BUILD_STAGE, ROOT, context)
    return context


@pytest.fixture(scope="module")
def wheel(build_context: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from the build stage's files only, by the command the image runs."""
    wheels = tmp_path_factory.mktemp("wheels")
    result = subprocess.run(
        [uv_command(), "build", "--wheel", "--out-dir", str(wheels), str(build_context)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"the image's wheel build fails:\n{result.stderr}"
    (built,) = wheels.glob("notes_api-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_build_stage_copies_only_what_the_wheel_needs(build_context: Path) -> None:
    top = {path.name for path in build_context.iterdir()}
    assert "tests" not in top
    assert not {".env", ".git", ".venv", "notes.db", ".jwt-secret"} & top


def test_the_wheel_carries_every_module(wheel_files: set[str]) -> None:
    modules = {f"notes_api/{name}" for name in repository_files("src/notes_api", (".py",))}
    assert modules <= wheel_files, sorted(modules - wheel_files)


def test_the_wheel_carries_the_migrations_and_alembic_ini(wheel_files: set[str]) -> None:
    migrations = {f"notes_api/_migrations/{name}" for name in repository_files("migrations")}
    assert migrations <= wheel_files, sorted(migrations - wheel_files)
    assert "notes_api/_alembic.ini" in wheel_files


def test_the_wheel_carries_the_web_page(wheel_files: set[str]) -> None:
    page = {f"notes_api/_web/{name}" for name in repository_files("web")}
    assert "notes_api/_web/index.html" in page
    assert page <= wheel_files, sorted(page - wheel_files)


def test_the_wheel_carries_the_docs_assets(wheel_files: set[str]) -> None:
    assets = {
        f"notes_api/docs_assets/{name}" for name in repository_files("src/notes_api/docs_assets")
    }
    assert assets
    assert assets <= wheel_files, sorted(assets - wheel_files)


def test_the_wheel_carries_the_licence(wheel_files: set[str]) -> None:
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in wheel_files)


def test_the_wheel_carries_no_tests_or_local_state(wheel_files: set[str]) -> None:
    assert not any(name.startswith(("tests/", "notes_api/tests/")) for name in wheel_files)
    assert not any(name.endswith((".db", ".jwt-secret", ".env", ".pyc")) for name in wheel_files)


def build_steps() -> str:
    """The build stage's last RUN (the install), as the shell runs it."""
    runs = [i.arguments for i in BUILD_STAGE if i.keyword == "RUN"]
    return runs[-1]


@pytest.fixture(scope="module")
def installed_image(build_context: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build stage's install steps run for real in the copied context, with the image's
    absolute paths moved into a temporary folder; returns the new environment's bin/."""
    root = tmp_path_factory.mktemp("image")
    moves = {
        "/opt/venv": str(root / "venv"),
        "/wheels": str(root / "wheels"),
        "/tmp/requirements.txt": str(root / "requirements.txt"),  # noqa: S108 (the image's path)
        "/usr/local/bin/python": sys._base_executable,  # the interpreter, not the test venv
    }
    steps = build_steps()
    for image_path, here in moves.items():
        assert image_path in steps, f"the build stage no longer uses {image_path}"
        steps = steps.replace(image_path, here)
    assert steps.count("uv ") >= 4
    steps = steps.replace("uv ", f"{uv_command()} ")
    environment = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    environment.pop("VIRTUAL_ENV", None)
    result = subprocess.run(
        ["/bin/sh", "-c", steps],
        cwd=build_context,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"the image's install steps fail:\n{result.stderr}"
    return root / "venv" / "bin"


def test_the_image_installs_the_locked_versions(installed_image: Path) -> None:
    """Every package in the image's environment is at the version uv.lock pins."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {package["name"]: package.get("version") for package in lock["package"]}
    listing = subprocess.run(
        [
            uv_command(),
            "pip",
            "list",
            "--format",
            "json",
            "--python",
            str(installed_image / "python"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {p["name"]: p["version"] for p in json.loads(listing.stdout)}
    assert installed.pop("notes-api") == locked["notes-api"]
    assert installed
    for name, version in installed.items():
        assert locked.get(name) == version, f"{name} {version} is not the locked version"
    assert not {"pytest", "ruff", "mypy", "playwright", "matplotlib"} & set(installed)


@pytest.mark.skipif(POSTGRES_URL is None, reason="needs TEST_DATABASE_URL")
def test_the_installed_image_migrates_creates_the_admin_and_serves(
    installed_image: Path, fresh_database: Callable[[], str], tmp_path: Path
) -> None:
    """docker/entrypoint.sh with only the image's environment on PATH: `notes-api migrate`,
    `ensure-admin`, then `serve`, on an empty PostgreSQL database."""
    located = subprocess.run(
        [str(installed_image / "python"), "-c", "import notes_api; print(notes_api.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(located.stdout.strip()).is_relative_to(installed_image.parent)

    port = free_port()
    password = secrets.token_urlsafe(16)
    env = {
        "PATH": f"{installed_image}{os.pathsep}/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "APP_ENV": "production",
        "DATABASE_URL": fresh_database(),
        "JWT_SECRET_KEY": secrets.token_hex(32),
        "PORT": str(port),
        "ADMIN_USERNAME": "root-admin",
        "ADMIN_PASSWORD": password,
    }
    stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [str(ENTRYPOINT)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    container = Container(process, port, stdout, stderr)
    try:
        container.wait_until_ready()
        assert f"database at revision {head_revision()}" in container.output()
        assert "created administrator root-admin" in container.output()
        tokens = login(container, "root-admin", password)
        status, _, body = get(
            container.url("/identify/me"), {"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert status == 200
        assert json.loads(body)["roles"] == ["admin", "user"]
        status, _, page = get(container.url("/"))
        assert status == 200
        assert b"<html" in page.lower()
        for asset in ("/docs", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-init.js"):
            assert get(container.url(asset))[0] == 200, asset
        container.stop()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


__all__ = ["fresh_database"]  # a fixture, used by name
