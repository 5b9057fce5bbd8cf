"""Start-up refuses a bad signing key in one line; `notes-api keys` makes and lists keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from typer.testing import CliRunner

from notes_api.auth.keys import generate_private_key, private_key_pem
from notes_api.cli import cli
from notes_api.config import get_settings
from tests.conftest import TEST_SECRET

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JWT_ALGORITHM", "EdDSA")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    return calls


def serve_with_key(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[str]:
    monkeypatch.setenv("JWT_PRIVATE_KEY_FILE", str(path))
    result = runner.invoke(cli, ["serve"])
    assert result.exit_code == 1
    lines: list[str] = result.output.strip().splitlines()
    return lines


def private_file(path: Path, content: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(content)
    path.chmod(mode)
    return path


def test_serve_starts_with_a_good_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, served: list[dict[str, Any]]
) -> None:
    key = private_file(tmp_path / "k.pem", private_key_pem(generate_private_key("EdDSA")))
    monkeypatch.setenv("JWT_PRIVATE_KEY_FILE", str(key))

    result = runner.invoke(cli, ["serve"])

    assert result.exit_code == 0, result.output
    assert len(served) == 1


def test_a_missing_key_file_stops_start_up_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, served: list[dict[str, Any]]
) -> None:
    lines = serve_with_key(monkeypatch, tmp_path / "absent.pem")

    assert lines == [f"error: JWT_PRIVATE_KEY_FILE: {tmp_path / 'absent.pem'} does not exist"]
    assert served == []


def test_a_world_readable_key_file_stops_start_up_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, served: list[dict[str, Any]]
) -> None:
    pem = private_key_pem(generate_private_key("EdDSA"))
    path = private_file(tmp_path / "k.pem", pem, 0o644)

    (line,) = serve_with_key(monkeypatch, path)

    assert "is readable by every user (mode 0644)" in line
    assert pem.decode().splitlines()[1] not in line
    assert served == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a key at all\n", "is not a PEM private key"),
        (private_key_pem(generate_private_key("ES256")), "holds an EC key on secp256r1"),
        (
            rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
                Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
            ),
            "holds an RSA key, but JWT_ALGORITHM=EdDSA needs an Ed25519 key",
        ),
    ],
    ids=["not-pem", "ec-for-eddsa", "rsa"],
)
def test_a_key_of_the_wrong_type_stops_start_up_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    served: list[dict[str, Any]],
    content: bytes,
    message: str,
) -> None:
    (line,) = serve_with_key(monkeypatch, private_file(tmp_path / "k.pem", content))

    assert line.startswith("error: JWT_PRIVATE_KEY_FILE: ")
    assert message in line
    assert served == []


def test_an_unreadable_key_path_stops_start_up_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, served: list[dict[str, Any]]
) -> None:
    (line,) = serve_with_key(monkeypatch, tmp_path)

    assert line == f"error: JWT_PRIVATE_KEY_FILE: {tmp_path} is a directory, not a key file"


def test_production_requires_a_private_key_file(
    monkeypatch: pytest.MonkeyPatch, served: list[dict[str, Any]]
) -> None:
    monkeypatch.setenv("APP_ENV", "production")

    result = runner.invoke(cli, ["serve"])

    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert "JWT_PRIVATE_KEY_FILE is required when JWT_ALGORITHM=EdDSA" in line


def test_a_key_file_with_an_hs_algorithm_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, served: list[dict[str, Any]]
) -> None:
    """Rather than silently signing with JWT_SECRET_KEY while the operator thinks EdDSA."""
    monkeypatch.setenv("JWT_ALGORITHM", "HS256")
    monkeypatch.setenv("JWT_PRIVATE_KEY_FILE", str(tmp_path / "k.pem"))

    result = runner.invoke(cli, ["serve"])

    assert result.exit_code == 1
    assert "need JWT_ALGORITHM=EdDSA or ES256" in result.output


def test_keys_generate_writes_a_private_file_once(tmp_path: Path) -> None:
    path = tmp_path / "next.pem"

    first = runner.invoke(cli, ["keys", "generate", str(path), "--algorithm", "ES256"])
    again = runner.invoke(cli, ["keys", "generate", str(path)])

    assert first.exit_code == 0, first.output
    assert first.output.startswith(f"ES256 key written to {path}, kid ")
    assert "PRIVATE" not in first.output
    assert path.stat().st_mode & 0o777 == 0o600
    assert again.exit_code == 1
    assert "never overwritten" in again.output


def test_keys_list_shows_the_signing_and_the_published_kids(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    current, upcoming = tmp_path / "current.pem", tmp_path / "next.pem"
    kids = []
    for path in (current, upcoming):
        output = runner.invoke(cli, ["keys", "generate", str(path)]).output
        kids.append(output.strip().rsplit(" ", 1)[1])
    public = runner.invoke(cli, ["keys", "public", str(upcoming)])
    (tmp_path / "next.pub.pem").write_text(public.output)
    monkeypatch.setenv("JWT_PRIVATE_KEY_FILE", str(current))
    monkeypatch.setenv("JWT_PUBLISHED_KEY_FILES", str(tmp_path / "next.pub.pem"))

    listed = runner.invoke(cli, ["keys", "list"])

    assert public.output.startswith("-----BEGIN PUBLIC KEY-----")
    assert listed.output.splitlines() == [f"signing\t{kids[0]}", f"published\t{kids[1]}"]


def test_keys_list_under_hs256_says_nothing_is_published(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_ALGORITHM", "HS256")
    monkeypatch.setenv("JWT_SECRET_KEY", TEST_SECRET)

    listed = runner.invoke(cli, ["keys", "list"])

    assert listed.exit_code == 0, listed.output
    assert listed.output == "HS256 signs with JWT_SECRET_KEY: no key is published\n"


@pytest.mark.parametrize("command", ["generate", "public"])
def test_keys_refuse_an_algorithm_they_do_not_make(tmp_path: Path, command: str) -> None:
    result = runner.invoke(cli, ["keys", command, str(tmp_path / "k.pem"), "--algorithm", "RS256"])

    assert result.exit_code == 1
    assert result.output == "error: --algorithm must be one of EdDSA, ES256\n"
    assert not (tmp_path / "k.pem").exists()


def test_keys_generate_into_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "next.pem"

    result = runner.invoke(cli, ["keys", "generate", str(path)])

    assert result.exit_code == 1
    assert result.output == f"error: cannot create {path}: No such file or directory\n"


def test_keys_public_of_a_file_that_is_not_a_key_is_one_line(tmp_path: Path) -> None:
    path = private_file(tmp_path / "notes.txt", b"not a key\n")

    result = runner.invoke(cli, ["keys", "public", str(path)])

    assert result.exit_code == 1
    assert result.output == f"error: FILE: {path} is not a PEM private key\n"
