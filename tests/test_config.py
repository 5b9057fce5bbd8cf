"""Production refuses unsafe settings at start-up; development stays convenient."""

import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from pydantic import ValidationError

from notes_api.config import Settings
from notes_api.main import create_app
from tests.databases import fresh_sqlite

GOOD_KEY = secrets.token_hex(32)


def production(**values: object) -> Settings:
    return Settings(_env_file=None, app_env="production", **values)  # type: ignore[call-arg]


def test_production_accepts_a_generated_key() -> None:
    settings = production(jwt_secret_key=GOOD_KEY, cors_origins="https://notes.example.org")
    assert settings.signing_key() == GOOD_KEY


def test_production_refuses_a_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="JWT_SECRET_KEY is required"):
        production()


def test_production_refuses_a_key_shorter_than_32_bytes() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        production(jwt_secret_key=secrets.token_hex(15))


@pytest.mark.parametrize(
    "key",
    [
        "changethis-changethis-changethis-changethis",
        "Change-Me-To-A-Long-Random-Value-0123456789",
        "CHANGE_ME_please_0123456789abcdefghijklmnop",
        "replace-me-with-the-output-of-openssl-rand-hex-32",
        "placeholder-secret-0123456789-abcdefghijklmn",
        "an-example-key-0123456789-abcdefghijklmnopqrs",
        "a" * 64,
        "0123" * 16,
    ],
)
def test_production_refuses_a_placeholder_key(key: str) -> None:
    with pytest.raises(ValidationError, match="placeholder") as caught:
        production(jwt_secret_key=key)
    assert key not in str(caught.value)


def test_a_public_key_pasted_as_the_shared_secret_is_refused_without_showing_it() -> None:
    pem = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(ValidationError, match="not a shared secret") as caught:
        production(jwt_secret_key=pem)
    assert "BEGIN" not in str(caught.value)


def test_development_refuses_a_placeholder_key_too() -> None:
    """Development instances are reachable too: a copied key lets anyone mint admin tokens."""
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(  # type: ignore[call-arg]
            _env_file=None, app_env="development", jwt_secret_key="changethis" * 4
        )


def test_production_refuses_cors_wildcard() -> None:
    with pytest.raises(ValidationError, match=r"CORS_ORIGINS=\*"):
        production(jwt_secret_key=GOOD_KEY, cors_origins="https://a.example.org,*")


def test_production_refuses_a_public_url_without_https() -> None:
    """It is the issuer and the base of the metadata's URLs, which RFC 8414 requires https."""
    with pytest.raises(ValidationError, match="PUBLIC_URL must be an https:// URL"):
        production(jwt_secret_key=GOOD_KEY, public_url="http://notes.example.org")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]
)
def test_production_accepts_plain_http_on_this_machine_only(url: str) -> None:
    """compose's local trial runs in production behind http://127.0.0.1:8000 (docs/deploy.md)."""
    assert production(jwt_secret_key=GOOD_KEY, public_url=url).public_url == url


def test_production_refuses_a_jwt_issuer_other_than_public_url() -> None:
    """RFC 8414 clients refuse metadata whose issuer is not the URL they fetched it under."""
    with pytest.raises(ValidationError, match="JWT_ISSUER must equal PUBLIC_URL"):
        production(
            jwt_secret_key=GOOD_KEY, public_url="https://notes.example.org", jwt_issuer="notes-api"
        )


def test_a_refusal_never_echoes_the_key() -> None:
    with pytest.raises(ValidationError) as caught:
        production(jwt_secret_key=GOOD_KEY, cors_origins="*")
    message = str(caught.value)
    assert "CORS_ORIGINS" in message
    assert GOOD_KEY[:8] not in message
    assert GOOD_KEY[-8:] not in message


def test_production_refuses_a_placeholder_key_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET_KEY", "change-me-" + GOOD_KEY)
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def migrated_database(sqlite_template: Path, tmp_path: Path) -> str:
    """On an empty database start-up would wait out the revocation feed's first load (5 s)."""
    return fresh_sqlite(sqlite_template, tmp_path)


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_docs_are_served_by_default_even_in_production(path: str, migrated_database: str) -> None:
    app = create_app(production(jwt_secret_key=GOOD_KEY, database_url=migrated_database))
    with TestClient(app) as client:
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_docs_enabled_false_removes_the_docs(
    monkeypatch: pytest.MonkeyPatch, path: str, migrated_database: str
) -> None:
    monkeypatch.setenv("DOCS_ENABLED", "false")
    app = create_app(production(jwt_secret_key=GOOD_KEY, database_url=migrated_database))
    with TestClient(app) as client:
        assert client.get(path).status_code == 404
