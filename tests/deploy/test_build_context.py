"""The image's build stage, reproduced without Docker: the wheel is built from exactly the
files the Dockerfile's build stage copies (read from its COPY lines), and must carry
everything the running container reads: migrations, alembic.ini, the web page, the docs'
own assets. Building from the whole work tree instead hid a missing `COPY web/` once."""

import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.deploy.dockerfile import ROOT, copy_build_context, parse, stages, uv_command

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


def test_the_wheel_carries_no_tests_or_local_state(wheel_files: set[str]) -> None:
    assert not any(name.startswith(("tests/", "notes_api/tests/")) for name in wheel_files)
    assert not any(name.endswith((".db", ".jwt-secret", ".env", ".pyc")) for name in wheel_files)
