"""The Dockerfile, read without Docker: stages, user, healthcheck, entrypoint, build context;
and the wheel it installs, built here the same way."""

import os
import re
import sys

import pytest
import yaml
from sqlalchemy import text

from tests.databases import POSTGRES_URL, sync_engine
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


PYTHON_IMAGE = "python:3.11-slim"
"""The Python minor version CI runs (the machine's python3) and README names."""
POSTGRES_IMAGE = "postgres:15"


def test_it_is_multi_stage_on_the_python_ci_tests() -> None:
    assert len(STAGES) >= 2
    arguments = build_arguments(INSTRUCTIONS)
    for stage in STAGES:
        image = substitute(stage[0].arguments, arguments).split()[0]
        assert image == PYTHON_IMAGE
    assert STAGES[0][0].arguments.endswith(" AS build")


def test_ci_the_image_compose_and_readme_name_one_python_and_postgresql() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["db"]["image"] == POSTGRES_IMAGE
    python_version = PYTHON_IMAGE.split(":")[1].removesuffix("-slim")
    postgres_version = POSTGRES_IMAGE.split(":")[1]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"Tested with Python {python_version} and PostgreSQL {postgres_version}" in readme
    if os.environ.get("CI"):  # CI runs on the machine's interpreter and PostgreSQL
        assert f"{sys.version_info[0]}.{sys.version_info[1]}" == python_version
        assert POSTGRES_URL is not None
        with sync_engine(POSTGRES_URL) as engine, engine.connect() as connection:
            number = connection.execute(text("SHOW server_version_num")).scalar_one()
        assert str(int(number) // 10000) == postgres_version


def test_the_first_stage_installs_the_locked_versions_then_the_wheel_without_extras() -> None:
    build_steps = " ".join(i.arguments for i in STAGES[0] if i.keyword == "RUN")
    assert "uv export --locked --no-dev --no-emit-project" in build_steps
    assert "--require-hashes -r /tmp/requirements.txt" in build_steps
    assert "uv build --wheel --out-dir /wheels" in build_steps
    assert "--no-deps /wheels/notes_api-*.whl" in build_steps
    assert "[" not in build_steps, "no extras: dev tools stay out of the image"
    copied = {
        source
        for copy in STAGES[0]
        if copy.keyword == "COPY"
        for source in options(copy.arguments)[1][:-1]
    }
    assert {"uv.lock", "migrations/", "alembic.ini", "web/"} <= copied


def test_the_image_and_make_pin_the_same_uv() -> None:
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert match
    build_steps = " ".join(i.arguments for i in STAGES[0] if i.keyword == "RUN")
    assert f"pip install uv=={match[1]}" in build_steps


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
        "secrets/jwt-signing.pem",  # examples/resource_server/README.md keeps the key there
        "src/notes_api.egg-info/PKG-INFO",
        "tests/conftest.py",
        "src/notes_api/__pycache__/main.cpython-312.pyc",
    ],
)
def test_secrets_and_local_state_stay_out_of_the_build_context(path: str) -> None:
    assert is_ignored(path, IGNORED)
