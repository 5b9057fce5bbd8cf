"""docker-compose.yml: valid against the Compose Specification, and wired as deployed."""

import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from notes_api.config import Settings
from notes_api.database import database_urls

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("compose-spec.json")
REQUIRED_REFERENCE = re.compile(r"^\$\{(?P<name>[A-Z_]+):\?(?P<message>[^}]+)\}$")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
KEY = secrets.token_hex(32)
VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>\w+)(?:(?P<operator>:-|-|:\?|\?)(?P<argument>[^}]*))?\}|\$(?P<bare>\w+)"
)


class MissingVariableError(LookupError):
    """What `docker compose` reports for `${NAME:?message}` when NAME is unset or empty."""


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution (the subset this file uses), over a loaded file."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if not isinstance(node, str):
        return node

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        value = env.get(match["name"] or match["bare"])
        operator, argument = match["operator"], match["argument"]
        if operator in (":?", "?") and (value is None or (operator == ":?" and not value)):
            raise MissingVariableError(argument)
        if operator == ":-" and not value:
            return str(argument)
        if operator == "-" and value is None:
            return str(argument)
        return value or ""

    return VARIABLE.sub(substitute, node)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "use the mapping form, so each key is checked by name"
    return {key: str(value) for key, value in env.items()}


def test_compose_file_is_valid_against_the_compose_specification(
    compose: dict[str, Any],
) -> None:
    validator = Draft7Validator(json.loads(SCHEMA.read_text()))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_rejects_a_broken_file(compose: dict[str, Any]) -> None:
    """The vendored schema is strict enough to catch a misspelled key."""
    broken = {**compose, "services": {**compose["services"], "db": {"imagee": "postgres:16"}}}
    assert not Draft7Validator(json.loads(SCHEMA.read_text())).is_valid(broken)


def test_db_is_postgres_15_on_a_named_volume_with_a_pg_isready_healthcheck(
    compose: dict[str, Any],
) -> None:
    db = compose["services"]["db"]
    assert db["image"] == "postgres:15"  # the major version CI tests
    (volume,) = db["volumes"]
    name, target = volume.split(":")
    assert target == "/var/lib/postgresql/data"
    assert name in compose["volumes"], "a named volume, not a bind mount"
    test = db["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    assert "pg_isready" in test[1]


def test_api_builds_the_image_and_waits_for_a_healthy_database(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert api["build"] == "."
    assert api["depends_on"] == {"db": {"condition": "service_healthy"}}
    test = api["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert "/healthz" in " ".join(test)
    assert not {"curl", "wget"} & set(" ".join(test).split())


def test_api_runs_in_production_on_the_compose_database(compose: dict[str, Any]) -> None:
    env = environment(compose["services"]["api"])
    assert env["APP_ENV"] == "production"
    url = env["DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://${POSTGRES_USER:-notes}:")
    assert url.endswith("@db:5432/${POSTGRES_DB:-notes}")


def test_api_listens_where_the_proxy_and_healthcheck_expect(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert environment(api)["PORT"] == "8000"
    assert "ports" not in api, "clients reach the API through the proxy only"
    assert "127.0.0.1:8000/healthz" in " ".join(api["healthcheck"]["test"])


def test_jwt_secret_key_is_required_from_the_environment(compose: dict[str, Any]) -> None:
    reference = environment(compose["services"]["api"])["JWT_SECRET_KEY"]
    match = REQUIRED_REFERENCE.match(reference)
    assert match, reference
    assert match["name"] == "JWT_SECRET_KEY"
    assert "set JWT_SECRET_KEY in .env" in match["message"]


def test_database_password_is_required_from_the_environment(compose: dict[str, Any]) -> None:
    reference = environment(compose["services"]["db"])["POSTGRES_PASSWORD"]
    match = REQUIRED_REFERENCE.match(reference)
    assert match, reference
    assert match["name"] == "POSTGRES_PASSWORD"


def test_no_secret_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_REFERENCE.match(value), f"{name}.{key} must be ${{{key}:?...}}"


def test_with_the_secrets_set_the_api_gets_them_and_a_working_database_url(
    compose: dict[str, Any],
) -> None:
    resolved = interpolate(compose, {"JWT_SECRET_KEY": KEY, "POSTGRES_PASSWORD": "pw-from-env"})
    api_env = environment(resolved["services"]["api"])
    db_env = environment(resolved["services"]["db"])
    assert api_env["JWT_SECRET_KEY"] == KEY
    assert db_env["POSTGRES_PASSWORD"] == "pw-from-env"
    assert api_env["DATABASE_URL"] == "postgresql+psycopg://notes:pw-from-env@db:5432/notes"
    # The container's shell, not compose, expands the healthcheck's variables.
    assert '"${POSTGRES_USER}"' in resolved["services"]["db"]["healthcheck"]["test"][1]

    values = {key.lower(): value for key, value in api_env.items()}
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    assert settings.app_env == "production"
    assert database_urls(settings.database_url).sync_url.host == "db"


@pytest.mark.parametrize("missing", ["JWT_SECRET_KEY", "POSTGRES_PASSWORD"])
@pytest.mark.parametrize("state", ["unset", "empty"])
def test_up_stops_while_a_secret_is_missing_or_empty(
    compose: dict[str, Any], missing: str, state: str
) -> None:
    env = {"JWT_SECRET_KEY": KEY, "POSTGRES_PASSWORD": "pw-from-env"}
    if state == "unset":
        del env[missing]
    else:
        env[missing] = ""
    with pytest.raises(MissingVariableError, match=f"set {missing} in .env"):
        interpolate(compose, env)


def test_the_env_file_is_optional_and_never_required_to_exist(compose: dict[str, Any]) -> None:
    """Secrets may come from the shell instead of .env; a missing file is not an error."""
    assert compose["services"]["api"]["env_file"] == [{"path": ".env", "required": False}]


def test_the_api_gets_longer_to_stop_than_its_graceful_shutdown(compose: dict[str, Any]) -> None:
    from notes_api.server import GRACEFUL_SHUTDOWN_SECONDS

    grace = compose["services"]["api"]["stop_grace_period"]
    assert grace.endswith("s")
    assert int(grace[:-1]) > GRACEFUL_SHUTDOWN_SECONDS
