"""Settings are read as users write them: any case for enumerated values, and a refused
value names the variable and what it accepts, without echoing the value."""

import os
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from notes_api.cli import cli
from notes_api.config import BOOLEAN_SPELLINGS, Settings, describe_settings_error, get_settings
from tests.conftest import TEST_SECRET
from tests.databases import fresh_sqlite
from tests.servers import NOTES_API, running_server


def settings(**values: str) -> Settings:
    values.setdefault("jwt_secret_key", TEST_SECRET)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("variable", "written", "read"),
    [
        ("log_level", "info", "INFO"),
        ("log_level", "Warning", "WARNING"),
        ("log_level", " debug ", "DEBUG"),
        ("log_format", "JSON", "json"),
        ("app_env", "Development", "development"),
        ("jwt_algorithm", "hs384", "HS384"),
    ],
)
def test_enumerated_settings_accept_any_case(variable: str, written: str, read: str) -> None:
    key = TEST_SECRET * 2 if read == "HS384" else TEST_SECRET
    assert getattr(settings(**{variable: written, "jwt_secret_key": key}), variable) == read


def command_line_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    """What `notes-api users` prints when the environment holds `env` (in-process)."""
    monkeypatch.chdir(tmp_path)  # no stray .env file
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["users"], env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    return result.stderr.strip()


# The pairs the refusal names, read from its text, so the message cannot promise a spelling
# that is refused: ("true", "false"), ("1", "0"), ...
NAMED_BOOLEAN_PAIRS = [
    tuple(pair.split("/")) for pair in BOOLEAN_SPELLINGS.replace(" or ", ", ").split(", ")
]


@pytest.mark.parametrize(("yes", "no"), NAMED_BOOLEAN_PAIRS)
def test_every_boolean_spelling_the_refusal_names_is_accepted_in_any_case(
    yes: str, no: str
) -> None:
    for written, read in ((yes, True), (no, False)):
        for spelling in (written, written.upper(), written.capitalize()):
            assert settings(allow_signup=spelling).allow_signup is read


def test_a_refused_boolean_names_the_accepted_spellings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert command_line_refusal(tmp_path, monkeypatch, ALLOW_SIGNUP="maybe") == (
        "error: invalid settings: ALLOW_SIGNUP must be a boolean: "
        "true/false, 1/0, yes/no, on/off, t/f or y/n (any case)"
    )


@pytest.mark.parametrize(
    ("variable", "value", "refusal"),
    [
        ("PUBLIC_URL", "ftp://notes.example", "PUBLIC_URL must be an http:// or https:// URL"),
        ("SMTP_URL", "http://mail.example", "SMTP_URL must start with smtp://, smtp+starttls://"),
        ("MFA_REQUIRED_ROLES", "admin,auditor!", "MFA_REQUIRED_ROLES: 'auditor!' is not a role"),
    ],
)
def test_a_refusal_names_the_variable_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, refusal: str
) -> None:
    line = command_line_refusal(tmp_path, monkeypatch, **{variable: value})
    assert line.startswith(f"error: invalid settings: {refusal}")
    assert line.count(variable) == 1


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("log_level", "loud", "LOG_LEVEL must be one of 'DEBUG', 'INFO', 'WARNING'"),
        ("log_format", "xml", "LOG_FORMAT must be one of 'text' or 'json'"),
        ("app_env", "staging", "APP_ENV must be one of 'development' or 'production'"),
        (
            "jwt_algorithm",
            "none",
            "JWT_ALGORITHM must be one of 'HS256', 'HS384', 'HS512', 'EdDSA' or 'ES256'",
        ),
        ("access_token_expire_minutes", "soon", "ACCESS_TOKEN_EXPIRE_MINUTES: Input should"),
    ],
)
def test_a_refused_value_names_the_variable_and_the_accepted_values(
    variable: str, value: str, expected: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(**{variable: value})
    message = describe_settings_error(caught.value)
    assert message.startswith(expected)
    assert value not in message


def test_the_command_line_refuses_a_bad_value_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [NOTES_API, "serve"],
        env={**os.environ, "LOG_LEVEL": "loud", "JWT_SECRET_KEY": TEST_SECRET},
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: invalid settings: LOG_LEVEL must be one of "
        "'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL' (any case)"
    ]


def test_serve_starts_with_a_lower_case_log_level(sqlite_template: Path, tmp_path: Path) -> None:
    database_url = fresh_sqlite(sqlite_template, tmp_path)
    env = {"LOG_LEVEL": "info", "DATABASE_URL": database_url, "JWT_SECRET_KEY": TEST_SECRET}
    with running_server(env) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
