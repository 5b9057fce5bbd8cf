"""`.env.example` and docs/deploy.md document every variable the code and compose file read;
README's Configuration table every setting of the application."""

import re
import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from notes_api.config import Settings

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY_DOC = (ROOT / "docs" / "deploy.md").read_text()


def referenced_variables(path: Path) -> list[str]:
    """`${NAME...}` references outside comments; `$${...}` is compose's escape, not one."""
    code = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    return sorted(set(re.findall(r"(?<!\$)\$\{(\w+)", code)))


SETTINGS_VARIABLES = sorted(name.upper() for name in Settings.model_fields)
COMPOSE_VARIABLES = referenced_variables(ROOT / "docker-compose.yml")
ENTRYPOINT_VARIABLES = referenced_variables(ROOT / "docker" / "entrypoint.sh")
ALL_VARIABLES = sorted({*SETTINGS_VARIABLES, *COMPOSE_VARIABLES, *ENTRYPOINT_VARIABLES})


def example_assignments() -> dict[str, str]:
    """`NAME=value` lines of .env.example, set or shown commented out as `# NAME=value`."""
    pairs = re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE)
    return dict(pairs)


def test_the_variables_are_found() -> None:
    assert {"JWT_SECRET_KEY", "DATABASE_URL", "LOG_FORMAT"} <= set(SETTINGS_VARIABLES)
    assert {"POSTGRES_PASSWORD", "JWT_SECRET_KEY"} <= set(COMPOSE_VARIABLES)
    assert {"ADMIN_USERNAME", "ADMIN_PASSWORD", "PORT"} <= set(ENTRYPOINT_VARIABLES)


@pytest.mark.parametrize("variable", ALL_VARIABLES)
def test_env_example_shows_every_variable(variable: str) -> None:
    assert variable in example_assignments()


@pytest.mark.parametrize("variable", ALL_VARIABLES)
def test_the_deploy_guide_tables_every_variable(variable: str) -> None:
    assert re.search(rf"^\| [^|\n]*`{variable}`", DEPLOY_DOC, re.MULTILINE)


def test_the_shipped_key_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    shipped = example_assignments()["JWT_SECRET_KEY"]
    assert len(shipped.encode()) >= 32, "long enough that only the placeholder check stops it"
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(_env_file=ENV_EXAMPLE, app_env="production")  # type: ignore[call-arg]


def test_the_shipped_database_password_is_empty_so_compose_refuses_to_start() -> None:
    assert example_assignments()["POSTGRES_PASSWORD"] == ""


def test_the_shipped_key_is_refused_in_development_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """`cp .env.example .env` then `make run` must not run on a key everyone can read."""
    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    monkeypatch.delenv("APP_ENV", raising=False)
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]


def test_the_example_file_keeps_a_local_run_s_text_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """With its key set, the example file loads, and leaves logs readable on a terminal
    (compose asks for JSON itself)."""
    for variable in SETTINGS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("JWT_SECRET_KEY", secrets.token_hex(32))
    settings = Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
    assert settings.log_format == "text"
    assert settings.app_env == "development"


@pytest.mark.parametrize(
    "command",
    [
        "cp .env.example .env",
        "docker compose up -d",
        "docker compose exec api notes-api create-user admin --roles admin,user",
        "pg_dump",
        "pg_restore",
    ],
)
def test_the_deploy_guide_gives_the_commands(command: str) -> None:
    assert command in DEPLOY_DOC


README_CONFIGURATION = (
    (ROOT / "README.md").read_text().split("## Configuration\n", 1)[1].split("\n## ", 1)[0]
)


@pytest.mark.parametrize("variable", SETTINGS_VARIABLES)
def test_the_readme_tables_every_setting(variable: str) -> None:
    assert re.search(rf"^\| [^|\n]*`{variable}`", README_CONFIGURATION, re.MULTILINE)
