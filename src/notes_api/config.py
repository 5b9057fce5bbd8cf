"""Application settings, read from environment variables and an optional `.env` file.

Validation refuses unsafe production values at start-up, so a misconfigured
deployment fails loudly instead of running with a guessable key.
"""

from __future__ import annotations

import re
from functools import lru_cache
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from jwt.algorithms import HMACAlgorithm
from jwt.exceptions import InvalidKeyError
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from notes_api.dev_secrets import development_secret
from notes_api.smtp_url import parse_smtp_url

DEV_PRIVATE_KEY_FILE = ".jwt-private-key-{algorithm}.pem"
"""Where development mode keeps its generated private key (git-ignored), one per algorithm."""
ASYMMETRIC_ALGORITHMS = ("EdDSA", "ES256")
JWT_ALGORITHMS = ("HS256", "HS384", "HS512", *ASYMMETRIC_ALGORITHMS)
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

DEFAULT_ISSUER = "notes-api"
"""The `iss` of a service that was never told its URL (neither JWT_ISSUER nor PUBLIC_URL)."""

_ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
"""The shape of a role name (`validation.ROLE_NAME_PATTERN`, which this core module may not
import)."""


BOOLEAN_SPELLINGS = "true/false, 1/0, yes/no, on/off, t/f or y/n"
"""What pydantic reads as a boolean, in any case (and nothing else: not `2`, not ` true`)."""


class SettingsError(ValueError):
    """A setting makes the application unsafe or unable to start."""


def _is_loopback(host: str) -> bool:
    """Only this machine reaches the host, so plain http is acceptable for it even in
    production: compose's local trial (RFC 8252 section 8.3 reasons the same way)."""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


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
    jwt_algorithm: Literal["HS256", "HS384", "HS512", "EdDSA", "ES256"] = "HS256"
    jwt_private_key_file: Path | None = None
    """PEM private key that signs, for EdDSA (Ed25519) and ES256 (P-256)."""
    jwt_published_key_files: Annotated[list[Path], NoDecode] = []
    """More public keys that verify and are published: the next key and the previous one."""
    public_url: str = "http://127.0.0.1:8000"
    """Where clients reach this service; discovery metadata builds its URLs from it."""
    jwt_issuer: str | None = None
    """The tokens' `iss` when set; otherwise `token_issuer` derives it."""
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

    mfa_required_roles: Annotated[list[str], NoDecode] = []
    """Roles that count only for a login completed with a second factor (step-up)."""

    login_max_failures_per_user: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=100, ge=1)
    login_failure_window_minutes: int = Field(default=15, ge=1)
    login_max_in_flight_per_address: int = Field(default=8, ge=1)
    """Logins from one address checked at once (every worker together); more answer 429."""
    signup_max_per_address: int = Field(default=10, ge=1)
    signup_window_minutes: int = Field(default=60, ge=1)

    smtp_url: SecretStr | None = None
    """`smtp://host:port`, `smtp+starttls://user:pass@host:587` or `smtps://user:pass@host:465`."""
    mail_from: str = Field(default="notes-api <notes-api@localhost>", pattern=r"^[^\r\n]+$")
    password_reset_expire_minutes: int = Field(default=30, ge=1, le=24 * 60)

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

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        # Written as users write them elsewhere: uvicorn and logging take `info` and `INFO`.
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("jwt_algorithm", mode="before")
    @classmethod
    def _algorithm_spelling(cls, value: object) -> object:
        # `hs256` and `eddsa` as well: the JOSE names, whatever the case they were typed in.
        if isinstance(value, str):
            return {name.upper(): name for name in JWT_ALGORITHMS}.get(value.strip().upper(), value)
        return value

    @field_validator("app_env", "log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator(
        "cors_origins",
        "forwarded_allow_ips",
        "jwt_published_key_files",
        "mfa_required_roles",
        mode="before",
    )
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

    @field_validator("smtp_url", "jwt_issuer", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`SMTP_URL=` or `JWT_ISSUER=` in a .env file means what leaving it out does."""
        return None if value == "" else value

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_smtp_url(value.get_secret_value())  # the error names the part, not the URL
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", value):
            raise SettingsError("PUBLIC_URL must be an http:// or https:// URL without query")
        return value.rstrip("/")

    @field_validator("mfa_required_roles")
    @classmethod
    def _check_role_names(cls, value: list[str]) -> list[str]:
        # Every role name is a lower-case slug, so `Admin` can only mean `admin`: refusing
        # it stopped a deployment over the case it was typed in.
        for name in value:
            if not _ROLE_NAME.fullmatch(name.lower()):
                raise SettingsError(
                    f"MFA_REQUIRED_ROLES: {name!r} is not a role name "
                    "(a letter, then letters, digits, _ or -)"
                )
        return [name.lower() for name in value]

    @model_validator(mode="after")
    def _refuse_unsafe_values(self) -> Settings:
        if self.app_env == "production" and "*" in self.cors_origins:
            raise SettingsError("CORS_ORIGINS=* is refused when APP_ENV=production")
        asymmetric = self.jwt_algorithm in ASYMMETRIC_ALGORITHMS
        if asymmetric and self.app_env == "production" and self.jwt_private_key_file is None:
            raise SettingsError(
                f"JWT_PRIVATE_KEY_FILE is required when JWT_ALGORITHM={self.jwt_algorithm} "
                "and APP_ENV=production (make one with `notes-api keys generate FILE`)"
            )
        if not asymmetric and (self.jwt_private_key_file or self.jwt_published_key_files):
            raise SettingsError(
                f"JWT_PRIVATE_KEY_FILE and JWT_PUBLISHED_KEY_FILES need JWT_ALGORITHM=EdDSA or "
                f"ES256; {self.jwt_algorithm} signs with JWT_SECRET_KEY"
            )
        self._check_issuer()
        if asymmetric:
            return self
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
        if self.app_env == "production" and self.jwt_secret_key is None:
            raise SettingsError(
                "JWT_SECRET_KEY is required when APP_ENV=production "
                f"(at least {MIN_SECRET_BYTES} bytes, e.g. `openssl rand -hex 32`)"
            )
        return self

    def _check_issuer(self) -> None:
        if self.app_env != "production":
            return
        url = urlsplit(self.public_url)
        if url.scheme != "https" and not _is_loopback(url.hostname or ""):
            # It is the issuer and the base of every URL in the metadata, which RFC 8414
            # requires to be https; reset links and tokens must not travel in clear either.
            raise SettingsError(
                "PUBLIC_URL must be an https:// URL when APP_ENV=production "
                "(http:// only for 127.0.0.1, ::1 or localhost)"
            )
        public_url_set = "public_url" in self.model_fields_set
        if public_url_set and self.jwt_issuer not in (None, self.public_url):
            # RFC 8414 section 3.3: a client refuses metadata whose issuer is not the URL it
            # fetched it under, and holds the tokens' `iss` to that issuer.
            raise SettingsError(
                "JWT_ISSUER must equal PUBLIC_URL when both are set and APP_ENV=production; "
                "leave JWT_ISSUER unset and it follows PUBLIC_URL"
            )

    @property
    def token_issuer(self) -> str:
        """The tokens' `iss` and the metadata's `issuer`: JWT_ISSUER, else PUBLIC_URL when it
        was set (RFC 8414: the issuer is the https URL the metadata is found under), else
        `notes-api`, which means nothing outside this service but changes nothing for a
        deployment that never named its URL."""
        if self.jwt_issuer is not None:
            return self.jwt_issuer
        if "public_url" in self.model_fields_set:
            return self.public_url
        return DEFAULT_ISSUER

    def signing_key(self) -> str:
        """The JWT key: configured, or in development generated once and kept on disk."""
        if self.jwt_secret_key is not None:
            return self.jwt_secret_key.get_secret_value()
        return development_secret(DEV_SECRET_FILE)

    def private_key_file(self) -> Path:
        """The signing key's file: configured, or in development one created once on disk."""
        if self.jwt_private_key_file is not None:
            return self.jwt_private_key_file
        return Path(DEV_PRIVATE_KEY_FILE.format(algorithm=self.jwt_algorithm.lower()))


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
    if first["type"] == "bool_parsing":
        return f"{variable} must be a boolean: {BOOLEAN_SPELLINGS} (any case)"
    if message.startswith(variable):  # a check that names its variable: not twice
        return message
    return f"{variable}: {message}"


def check_secret_strength(secret: str, algorithm: str) -> None:
    minimum = MIN_SECRET_BYTES_BY_ALGORITHM[algorithm]
    if len(secret.encode()) < minimum:
        raise SettingsError(f"JWT_SECRET_KEY must be at least {minimum} bytes long for {algorithm}")
    try:  # PyJWT's own checks (the same for every HS algorithm), run by the token codec too
        HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
    except InvalidKeyError:
        raise SettingsError(
            "JWT_SECRET_KEY is a public or private key, not a shared secret; for a key pair "
            "set JWT_ALGORITHM=EdDSA or ES256 and JWT_PRIVATE_KEY_FILE"
        ) from None


def is_placeholder_secret(secret: str) -> bool:
    """A key copied from an example or typed by hand, which every mode refuses."""
    folded = re.sub(r"[^a-z0-9]", "", secret.lower())
    return (
        any(marker in folded for marker in PLACEHOLDER_SECRET_MARKERS)
        or len(set(secret)) < MIN_SECRET_DISTINCT_CHARACTERS
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
