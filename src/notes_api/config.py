"""Application settings, read from environment variables and an optional `.env` file.

Validation refuses unsafe production values at start-up, so a misconfigured
deployment fails loudly instead of running with a guessable key.
"""

from __future__ import annotations

import os
import re
import secrets
from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MIN_SECRET_BYTES = 32
MIN_SECRET_BYTES_BY_ALGORITHM = {"HS256": 32, "HS384": 48, "HS512": 64}
"""RFC 7518 section 3.2: an HMAC key at least as long as the hash output."""
DEV_SECRET_FILE = Path(".jwt-secret")
"""Where development mode keeps its generated key (git-ignored), so restarts and workers agree."""

PLACEHOLDER_SECRET_MARKERS = ("changeme", "changethis", "replaceme", "placeholder", "example")
"""Words that mark a key someone copied from documentation instead of generating
(compared with case and punctuation removed, so "Change-Me" and "CHANGE_THIS" count)."""
MIN_SECRET_DISTINCT_CHARACTERS = 8
"""Fewer distinct characters than this ("aaaa...", "0000...") is no random key: a random
32-character hex key has fewer than 8 distinct characters well under once in a million."""


SUPPORTED_DATABASES = ("sqlite", "postgresql", "postgres")


class SettingsError(ValueError):
    """A setting makes the application unsafe or unable to start."""


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        extra="ignore",
        frozen=True,
        # A refusal names the setting; echoing the input would print the key into logs.
        hide_input_in_errors=True,
    )

    app_env: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./notes.db"
    database_listen_url: str | None = None
    """Where each worker LISTENs for revocations (PostgreSQL): a direct connection when
    DATABASE_URL goes through a pooler in transaction mode. Default: DATABASE_URL."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    jwt_secret_key: SecretStr | None = None
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = "notes-api"
    jwt_audience: str = "notes-api"
    access_token_expire_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_expire_minutes: int = Field(default=7 * 24 * 60, ge=1)
    refresh_family_lifetime_minutes: int = Field(default=30 * 24 * 60, ge=1)
    """Absolute lifetime of a login session: rotation never extends it past this."""

    cors_origins: Annotated[list[str], NoDecode] = []
    allow_signup: bool = False
    docs_enabled: bool = True
    web_concurrency: int = Field(default=1, ge=1)
    forwarded_allow_ips: Annotated[list[str], NoDecode] = ["127.0.0.1"]
    """Proxy addresses whose X-Forwarded-For is trusted (uvicorn's --forwarded-allow-ips)."""

    login_max_failures_per_user: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=100, ge=1)
    login_failure_window_minutes: int = Field(default=15, ge=1)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        # Parsed here, so a wrong URL is one line at start-up, not a traceback later.
        try:
            backend: str | None = make_url(value).get_backend_name()
        except ArgumentError:
            backend = None
        if backend not in SUPPORTED_DATABASES:
            raise ValueError(
                "must be sqlite:///path/to/file.db or postgresql://user:password@host/database"
                + (f", not a {backend} URL" if backend else "")
            )
        return value

    @field_validator("log_level", "jwt_algorithm", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        # Written as users write them elsewhere: uvicorn and logging take `info` and `INFO`.
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("app_env", "log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("cors_origins", "forwarded_allow_ips", mode="before")
    @classmethod
    def _parse_csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_proxy_addresses(cls, value: list[str]) -> list[str]:
        for item in value:
            if item != "*":
                ip_network(item, strict=False)
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_values(self) -> Settings:
        if self.jwt_secret_key is not None:
            check_secret_strength(self.jwt_secret_key.get_secret_value(), self.jwt_algorithm)
            # In every mode: a copied example key lets anyone who read the docs mint tokens,
            # and development instances are reachable too.
            if is_placeholder_secret(self.jwt_secret_key.get_secret_value()):
                raise SettingsError(
                    "JWT_SECRET_KEY looks like a placeholder, not a generated key; "
                    "set it to the output of `openssl rand -hex 32`"
                    + ("" if self.app_env == "production" else ", or remove it in development")
                )
        if self.app_env == "production":
            if self.jwt_secret_key is None:
                raise SettingsError(
                    "JWT_SECRET_KEY is required when APP_ENV=production "
                    f"(at least {MIN_SECRET_BYTES} bytes, e.g. `openssl rand -hex 32`)"
                )
            if "*" in self.cors_origins:
                raise SettingsError("CORS_ORIGINS=* is refused when APP_ENV=production")
        return self

    def signing_key(self) -> str:
        """The JWT key: configured, or in development generated once and kept on disk."""
        if self.jwt_secret_key is not None:
            return self.jwt_secret_key.get_secret_value()
        return _development_secret(DEV_SECRET_FILE)


def describe_settings_error(exc: ValidationError) -> str:
    """One line naming the environment variable and what it accepts, never the value given."""
    first = exc.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    variable = "_".join(str(part) for part in first["loc"][:1]).upper()
    if not variable:  # a check across settings: its message names the variables
        return message
    if first["type"] == "literal_error":
        allowed = first.get("ctx", {}).get("expected", "")
        return f"{variable} must be one of {allowed} (any case)"
    return f"{variable}: {message}"


def check_secret_strength(secret: str, algorithm: str) -> None:
    minimum = MIN_SECRET_BYTES_BY_ALGORITHM[algorithm]
    if len(secret.encode()) < minimum:
        raise SettingsError(f"JWT_SECRET_KEY must be at least {minimum} bytes long for {algorithm}")


def is_placeholder_secret(secret: str) -> bool:
    """A key copied from an example or typed by hand, which every mode refuses."""
    folded = re.sub(r"[^a-z0-9]", "", secret.lower())
    return (
        any(marker in folded for marker in PLACEHOLDER_SECRET_MARKERS)
        or len(set(secret)) < MIN_SECRET_DISTINCT_CHARACTERS
    )


@lru_cache(maxsize=4)
def _development_secret(path: Path) -> str:
    """Read the development key, creating it if no process has yet.

    The key is written to a private temporary file and hard-linked into place,
    which fails if the file exists: concurrent workers never see a half-written
    key, and all of them end up with the one that won.
    """
    if not path.exists():
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
