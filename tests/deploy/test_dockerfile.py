"""The Dockerfile, read without Docker: stages, user, healthcheck, entrypoint, build context;
and the wheel it installs, built here the same way."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from notes_api.schema_migrations import head_revision
from tests.deploy.dockerfile import (
    ROOT,
    Instruction,
    build_arguments,
    dockerignore_patterns,
    is_ignored,
    options,
    parse,
    stages,
    substitute,
)

INSTRUCTIONS = parse((ROOT / "Dockerfile").read_text())
STAGES = stages(INSTRUCTIONS)
FINAL = STAGES[-1]
IGNORED = dockerignore_patterns((ROOT / ".dockerignore").read_text())


def in_final(keyword: str) -> list[Instruction]:
    return [instruction for instruction in FINAL if instruction.keyword == keyword]


def test_it_is_multi_stage_on_slim_python_3_12() -> None:
    assert len(STAGES) >= 2
    arguments = build_arguments(INSTRUCTIONS)
    for stage in STAGES:
        image = substitute(stage[0].arguments, arguments).split()[0]
        assert image == "python:3.12-slim"
    assert STAGES[0][0].arguments.endswith(" AS build")


def test_the_first_stage_builds_the_wheel_and_installs_it_without_extras() -> None:
    build_steps = " ".join(i.arguments for i in STAGES[0] if i.keyword == "RUN")
    assert "pip wheel" in build_steps
    assert "pip install /wheels/notes_api-*.whl" in build_steps
    assert "[" not in build_steps, "no extras: dev tools stay out of the image"
    copied = {
        source
        for copy in STAGES[0]
        if copy.keyword == "COPY"
        for source in options(copy.arguments)[1][:-1]
    }
    assert {"migrations/", "alembic.ini"} <= copied, "the wheel force-includes both"


def test_the_final_stage_copies_the_environment_and_builds_nothing() -> None:
    copies = [options(i.arguments) for i in in_final("COPY")]
    assert ({"from": "build"}, ["/opt/venv", "/opt/venv"]) in copies
    assert not any("pip" in run.arguments for run in in_final("RUN"))
    assert any("PATH=/opt/venv/bin:$PATH" in env.arguments for env in in_final("ENV"))


def test_the_final_stage_runs_as_a_non_root_user() -> None:
    users = in_final("USER")
    assert users, "the final stage must switch user"
    user, _, group = users[-1].arguments.partition(":")
    assert user not in ("root", "0")
    assert group != "0"
    assert user.isdigit(), "numeric, so runAsNonRoot-style checks can verify it"
    (create_user,) = [run for run in in_final("RUN") if "useradd" in run.arguments]
    assert f"--uid {user}" in create_user.arguments
    assert FINAL.index(users[-1]) > FINAL.index(create_user)


def test_port_8000_is_exposed() -> None:
    assert [expose.arguments for expose in in_final("EXPOSE")] == ["8000"]


def test_the_healthcheck_calls_healthz_with_python_not_curl() -> None:
    (healthcheck,) = in_final("HEALTHCHECK")
    command = healthcheck.arguments.split(" CMD ", 1)[1]
    assert command.startswith("python -c ")
    assert "/healthz" in command
    assert not {"curl", "wget"} & set(command.replace('"', " ").split())


def test_the_container_starts_through_the_entrypoint_script() -> None:
    (entrypoint,) = in_final("ENTRYPOINT")
    exec_form = entrypoint.exec_form()
    assert exec_form == ["notes-api-entrypoint"], "exec form: the script is PID 1's program"
    assert not in_final("CMD"), "the script decides what runs; no CMD to override it"
    installed = [options(copy.arguments) for copy in in_final("COPY")]
    script_copy = (
        {"chmod": "0755"},
        ["docker/entrypoint.sh", "/usr/local/bin/notes-api-entrypoint"],
    )
    assert script_copy in installed
    script = ROOT / "docker" / "entrypoint.sh"
    assert os.access(script, os.X_OK), "executable in git too, for running it outside Docker"
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert "\nnotes-api migrate\n" in text
    assert '\nexec notes-api serve --host 0.0.0.0 --port "${PORT:-8000}"\n' in text


def test_every_file_the_dockerfile_copies_is_in_the_build_context() -> None:
    for stage in STAGES:
        for copy in (i for i in stage if i.keyword == "COPY"):
            flags, paths = options(copy.arguments)
            if "from" in flags:
                continue
            for source in paths[:-1]:
                assert (ROOT / source).exists(), source
                assert not is_ignored(source, IGNORED), f"{source} is excluded by .dockerignore"


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.production",
        ".git/config",
        ".venv/bin/python",
        ".jwt-secret",
        "notes.db",
        "notes.db-wal",
        "src/notes_api.egg-info/PKG-INFO",
        "tests/conftest.py",
        "src/notes_api/__pycache__/main.cpython-312.pyc",
    ],
)
def test_secrets_and_local_state_stay_out_of_the_build_context(path: str) -> None:
    assert is_ignored(path, IGNORED)


def test_the_built_wheel_carries_the_migrations_and_migrates_from_them(tmp_path: Path) -> None:
    """What the image's first stage does, offline: `pip wheel` the project, then run
    `notes-api migrate` from the unpacked wheel instead of the work tree."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "wheels").glob("notes_api-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    assert {
        "notes_api/_alembic.ini",
        "notes_api/_migrations/env.py",
        "notes_api/_migrations/script.py.mako",
        "notes_api/_migrations/versions/0001_initial_schema.py",
    } <= names
    assert not any(name.startswith("tests/") for name in names)

    site = tmp_path / "site"
    probe = (
        "import notes_api.schema_migrations as schema; "
        "print(schema.__file__); print(schema.migrations_directory()); "
        "from notes_api.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, "migrate"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site), "DATABASE_URL": "sqlite:///./wheel.db"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    module, migrations, outcome = result.stdout.splitlines()
    assert Path(module).is_relative_to(site)
    assert Path(migrations) == site / "notes_api" / "_migrations"
    assert outcome == f"database at revision {head_revision()}"
