"""examples/resource_server against a real notes-api: tokens verified through the JWKS alone,
forgeries refused, and a key rotation followed without restarting the resource server."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import httpx2
import jwt
import pytest

from notes_api.auth.keys import generate_private_key, private_key_pem
from tests.conftest import DEFAULT_PASSWORD, TEST_SECRET, MakeUser
from tests.servers import free_port, running_server, wait_for_health

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "resource_server" / "app.py"
REQUIREMENTS = EXAMPLE.with_name("requirements.txt")


def key(path: Path) -> Path:
    path.write_bytes(private_key_pem(generate_private_key("EdDSA")))
    path.chmod(0o600)
    return path


@pytest.fixture
def notes_port() -> int:
    return free_port()


@pytest.fixture
def resource_server(notes_port: int) -> Iterator[str]:
    port = free_port()
    env = {
        "NOTES_API_URL": f"http://127.0.0.1:{notes_port}",
        "PORT": str(port),
        "JWKS_MIN_REFETCH_SECONDS": "0",
        "REQUIRED_ROLE": "user",
    }
    # Isolated (-I): nothing from this checkout's environment but the interpreter's packages.
    process = subprocess.Popen(
        [sys.executable, "-I", str(EXAMPLE)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def notes_env(database_url: str, signing: Path, published: str = "") -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "APP_ENV": "development",
        "JWT_ALGORITHM": "EdDSA",
        "JWT_PRIVATE_KEY_FILE": str(signing),
        "JWT_PUBLISHED_KEY_FILES": published,
    }


def login(base_url: str, username: str) -> str:
    form = {"username": username, "password": DEFAULT_PASSWORD}
    token: str = httpx2.post(f"{base_url}/token", data=form).json()["access_token"]
    return token


def whoami(resource: str, token: str) -> httpx2.Response:
    return httpx2.get(f"{resource}/whoami", headers={"Authorization": f"Bearer {token}"})


def test_the_resource_server_trusts_notes_api_tokens_through_the_jwks(
    database_url: str, make_user: MakeUser, tmp_path: Path, notes_port: int, resource_server: str
) -> None:
    user = make_user(roles=["user"])
    with running_server(notes_env(database_url, key(tmp_path / "k.pem")), port=notes_port) as api:
        token = login(api, user.username)
        answer = whoami(resource_server, token)

    assert answer.status_code == 200
    assert answer.json() == {"username": user.username, "id": user.id, "roles": ["user"]}


def test_the_resource_server_refuses_what_notes_api_did_not_sign(
    database_url: str, make_user: MakeUser, tmp_path: Path, notes_port: int, resource_server: str
) -> None:
    user = make_user(roles=["user"])
    env = notes_env(database_url, key(tmp_path / "k.pem"))
    with running_server(env, port=notes_port) as api:
        token = login(api, user.username)
        claims = jwt.decode(token, options={"verify_signature": False})
        kid = jwt.get_unverified_header(token)["kid"]
        stranger = generate_private_key("EdDSA")
        forged = jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": kid})
        hs = jwt.encode(claims, TEST_SECRET, algorithm="HS256", headers={"kid": kid})
        answers = [whoami(resource_server, bad) for bad in (forged, hs, "garbage", token + "x")]
        no_role = make_user(roles=[])
        forbidden = whoami(resource_server, login(api, no_role.username))

    assert [answer.status_code for answer in answers] == [401, 401, 401, 401]
    assert answers[0].headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert forbidden.status_code == 403


def test_the_resource_server_follows_a_key_rotation_without_a_restart(
    database_url: str, make_user: MakeUser, tmp_path: Path, notes_port: int, resource_server: str
) -> None:
    user = make_user(roles=["user"])
    old, new = key(tmp_path / "old.pem"), key(tmp_path / "new.pem")
    with running_server(notes_env(database_url, old), port=notes_port) as api:
        old_token = login(api, user.username)
        assert whoami(resource_server, old_token).status_code == 200  # the set is now cached

    with running_server(notes_env(database_url, new, str(old)), port=notes_port) as api:
        new_token = login(api, user.username)
        after_rotation = whoami(resource_server, new_token)  # an unknown kid: fetched again
        still_valid = whoami(resource_server, old_token)

    assert (
        jwt.get_unverified_header(new_token)["kid"] != jwt.get_unverified_header(old_token)["kid"]
    )
    assert after_rotation.status_code == 200
    assert still_valid.status_code == 200


def distribution(name: str) -> str:
    """PEP 503's normalized form, in which `PyJWT` and `pyjwt` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_resource_server_imports_only_the_standard_library_and_its_requirements() -> None:
    """Its own small dependency list is its whole list: nothing comes from notes-api's."""
    tree = ast.parse(EXAMPLE.read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and not node.level
    }
    top_level = {name.partition(".")[0] for name in imported}
    # `name[extras]>=version  # comment`: the project name is what comes before any of those.
    listed = {
        distribution(match[1])
        for line in REQUIREMENTS.read_text().splitlines()
        if (match := re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.partition("#")[0]))
    }
    owners = packages_distributions()
    outside = {
        module
        for module in top_level - set(sys.stdlib_module_names)
        if not {distribution(owner) for owner in owners.get(module, [])} & listed
    }

    assert "jwt" in top_level
    assert outside == set()
