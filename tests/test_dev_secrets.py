"""Development without JWT_SECRET_KEY: a key generated once into a private file, which every
worker (and every restart) reads, and which concurrent workers never see half-written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from notes_api.config import DEV_SECRET_FILE
from notes_api.dev_secrets import create_once, development_secret
from notes_api.main import create_app
from tests.conftest import MakeUser, bearer, login, make_settings


@pytest.fixture
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The generated key is written to the working directory: a temporary one, and no key
    remembered from another test (each worker process reads the file afresh)."""
    monkeypatch.chdir(tmp_path)
    development_secret.cache_clear()
    yield tmp_path
    development_secret.cache_clear()


def worker(database_url: str) -> TestClient:
    return TestClient(create_app(make_settings(database_url, jwt_secret_key=None)))


def test_a_token_from_one_development_worker_is_accepted_by_another(
    in_tmp_path: Path, database_url: str, make_user: MakeUser
) -> None:
    user = make_user()
    with worker(database_url) as first:
        token = login(first, user.username)["access_token"]
    development_secret.cache_clear()  # the other worker is another process

    with worker(database_url) as second:
        response = second.get("/identify/me", headers=bearer(token))

    assert response.status_code == 200, response.text


def test_the_development_key_is_a_private_file_kept_across_restarts(
    in_tmp_path: Path, database_url: str
) -> None:
    with worker(database_url):
        generated = (in_tmp_path / DEV_SECRET_FILE).read_text()
    development_secret.cache_clear()
    with worker(database_url):
        pass

    assert (in_tmp_path / DEV_SECRET_FILE).read_text() == generated
    assert (in_tmp_path / DEV_SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert len(generated.strip()) >= 64


def test_a_worker_that_loses_the_race_keeps_the_winner_s_key(tmp_path: Path) -> None:
    path = tmp_path / "key"

    def content() -> bytes:
        path.write_bytes(b"the winner's key")  # another worker links its file meanwhile
        return b"the loser's key"

    create_once(path, content)

    assert path.read_bytes() == b"the winner's key"
    assert sorted(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_an_existing_key_file_is_never_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "key"
    create_once(path, lambda: b"first")

    create_once(path, lambda: b"second")

    assert path.read_bytes() == b"first"
    assert sorted(tmp_path.iterdir()) == [path]
