"""The reverse proxy compose puts in front of the API (Caddy, docker/Caddyfile): its
configuration checked by Debian's `caddy validate` for each way compose fills it in, its
limits equal to the API's own, and the API trusting forwarded addresses from it alone.

`make test` and .ci/run install Debian's caddy; without it these tests skip locally and fail
in CI. Debian's Caddy (2.6) is older than the image compose runs (2.10): the file uses only
directives both read the same way."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from ipaddress import ip_address, ip_network
from typing import Any

import pytest
import yaml

from notes_api.body_limit import MAX_BODY_SIZE
from notes_api.server import HEADER_TIMEOUT_SECONDS, MAX_HEADER_BYTES
from tests.deploy.dockerfile import ROOT
from tests.deploy.test_compose import environment, interpolate

CADDYFILE = ROOT / "docker" / "Caddyfile"
SECRETS = {"JWT_SECRET_KEY": "k" * 64, "POSTGRES_PASSWORD": "pw"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def caddy() -> str:
    found = shutil.which("caddy") or (
        "/usr/bin/caddy" if os.path.exists("/usr/bin/caddy") else None
    )
    if found is None:
        message = "caddy is missing: `apt-get install -y caddy` (make test does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def site_address(compose: dict[str, Any], **env: str) -> str:
    resolved = interpolate(compose, {**SECRETS, **env})
    return environment(resolved["services"]["proxy"])["SITE_ADDRESS"]


def run_caddy(caddy: str, command: str, address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [caddy, command, "--adapter", "caddyfile", "--config", str(CADDYFILE)],
        env={**os.environ, "SITE_ADDRESS": address},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("domain", "address"),
    [(None, ":80"), ("", ":80"), ("notes.example.org", "notes.example.org")],
)
def test_caddy_validates_the_configuration_as_compose_fills_it_in(
    compose: dict[str, Any], caddy: str, domain: str | None, address: str
) -> None:
    env = {} if domain is None else {"DOMAIN": domain}
    assert site_address(compose, **env) == address
    result = run_caddy(caddy, "validate", address)
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


def adapted(caddy: str, address: str) -> dict[str, Any]:
    result = run_caddy(caddy, "adapt", address)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    (server,) = config["apps"]["http"]["servers"].values()
    return server


def handlers(server: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "handler" in node:
                found.setdefault(node["handler"], node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(server["routes"])
    return found


def test_the_proxy_bounds_headers_body_and_time_like_the_api(caddy: str) -> None:
    server = adapted(caddy, ":80")
    assert server["listen"] == [":80"]
    assert server["max_header_bytes"] == MAX_HEADER_BYTES
    assert server["read_header_timeout"] == HEADER_TIMEOUT_SECONDS * 1_000_000_000
    for timeout in ("read_timeout", "write_timeout", "idle_timeout"):
        assert server[timeout] > 0, timeout
    assert handlers(server)["request_body"]["max_size"] == MAX_BODY_SIZE


def test_the_proxy_forwards_to_the_api_and_hides_its_banner(caddy: str) -> None:
    found = handlers(adapted(caddy, ":80"))
    proxy = found["reverse_proxy"]
    assert proxy["upstreams"] == [{"dial": "api:8000"}]
    assert "trusted_proxies" not in json.dumps(proxy), "client X-Forwarded-For must be replaced"
    assert found["headers"]["response"]["delete"] == ["Server"]


def test_with_a_domain_the_proxy_serves_that_name_only(caddy: str) -> None:
    server = adapted(caddy, "notes.example.org")
    assert "notes.example.org" in json.dumps(server["routes"][0]["match"])


def test_only_the_proxy_publishes_ports(compose: dict[str, Any]) -> None:
    """Of the services `docker compose up` starts; the observability profile's UIs
    (Prometheus, Grafana) are published too, on loopback unless an operator says otherwise."""
    services = compose["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    default = {name for name in published if not services[name].get("profiles")}
    assert default == {"proxy"}
    resolved = interpolate(compose, SECRETS)
    assert resolved["services"]["proxy"]["ports"] == ["127.0.0.1:8000:80", "127.0.0.1:8443:443"]
    for name in published - default:
        assert all(port.startswith("127.0.0.1:") for port in resolved["services"][name]["ports"])


def test_the_api_trusts_forwarded_addresses_from_the_proxy_alone(compose: dict[str, Any]) -> None:
    services = compose["services"]
    proxy_address = services["proxy"]["networks"]["edge"]["ipv4_address"]
    assert environment(services["api"])["FORWARDED_ALLOW_IPS"] == proxy_address
    (subnet,) = [entry["subnet"] for entry in compose["networks"]["edge"]["ipam"]["config"]]
    assert ip_address(proxy_address) in ip_network(subnet)
    assert "edge" in services["api"]["networks"]
    assert "edge" not in services["db"]["networks"], "the proxy cannot reach the database"


def test_the_proxy_reads_this_caddyfile(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["proxy"]["volumes"]
    assert "./docker/Caddyfile:/etc/caddy/Caddyfile:ro" in volumes


def test_the_image_is_tagged_with_the_project_version(compose: dict[str, Any]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    resolved = interpolate(compose, SECRETS)
    assert resolved["services"]["api"]["image"] == f"notes-api:{version}"
