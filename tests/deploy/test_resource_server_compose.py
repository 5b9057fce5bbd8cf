"""examples/resource_server/README.md's compose snippet, added to docker-compose.yml as the
reader is told to: a valid file in which the new service reaches the API and expects the
issuer notes-api writes."""

import json
import re
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from notes_api.config import Settings
from tests.deploy.test_compose import KEY, ROOT, SCHEMA, environment, interpolate

README = ROOT / "examples" / "resource_server" / "README.md"


def snippet() -> dict[str, Any]:
    """The README's only yaml block: services' entries indented under an implied
    `services:`, then top-level keys."""
    (block,) = re.findall(r"^```yaml\n(.*?)^```$", README.read_text(), re.DOTALL | re.MULTILINE)
    loaded: dict[str, Any] = yaml.safe_load("services:\n" + block)
    return loaded


def merge(base: Any, addition: Any) -> Any:
    """Adding the snippet to the file: mappings merged key by key, lists extended."""
    if isinstance(base, dict) and isinstance(addition, dict):
        merged = dict(base)
        for key, value in addition.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(addition, list):
        return base + [item for item in addition if item not in base]
    return addition


@pytest.fixture(scope="module")
def merged() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    result: dict[str, Any] = merge(compose, snippet())
    return result


def networks(service: dict[str, Any]) -> set[str]:
    """A service without `networks:` is on the project's `default` network only."""
    return set(service.get("networks", ["default"]))


def test_the_merged_file_is_valid_against_the_compose_specification(
    merged: dict[str, Any],
) -> None:
    validator = Draft7Validator(json.loads(SCHEMA.read_text()))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(merged)]
    assert errors == []
    assert {"api", "reports"} <= set(merged["services"])


def test_the_resource_server_shares_a_network_with_the_api_but_not_the_database(
    merged: dict[str, Any],
) -> None:
    services = merged["services"]
    assert networks(services["reports"]) & networks(services["api"])
    assert not networks(services["reports"]) & networks(services["db"])


def test_no_file_backed_secret_asks_for_a_mode_or_owner_compose_ignores(
    merged: dict[str, Any],
) -> None:
    """Compose bind-mounts a `file:` secret as the host file is (docker/compose#9648): the
    README must have the reader chown and chmod the host file instead."""
    file_backed = {name for name, secret in merged["secrets"].items() if "file" in secret}
    for name, service in merged["services"].items():
        for entry in service.get("secrets", []):
            if isinstance(entry, dict) and entry["source"] in file_backed:
                assert not {"mode", "uid", "gid"} & set(entry), f"{name}: {entry}"
    assert "chown 10001:10001 secrets/jwt-signing.pem" in README.read_text()


@pytest.mark.parametrize(
    ("public_url", "issuer"),
    [(None, "notes-api"), ("https://notes.example.org", "https://notes.example.org")],
)
def test_the_resource_server_expects_the_issuer_the_api_writes(
    merged: dict[str, Any], public_url: str | None, issuer: str
) -> None:
    """`.env` reaches the api through `env_file` and fills in `${...}` for compose alike."""
    dot_env = {"PUBLIC_URL": public_url} if public_url else {}
    resolved = interpolate(merged, {"JWT_SECRET_KEY": KEY, "POSTGRES_PASSWORD": "pw", **dot_env})
    api_env = {**dot_env, **environment(resolved["services"]["api"])}
    values = {key.lower(): value for key, value in api_env.items()}
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    reports = environment(resolved["services"]["reports"])
    assert settings.token_issuer == reports["JWT_ISSUER"] == issuer
    assert settings.jwt_audience == reports["JWT_AUDIENCE"]
