"""Standard OAuth2 client libraries against a real server: login, call, refresh, revoke."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import InvalidGrantError, LegacyApplicationClient
from requests_oauthlib import OAuth2Session

from tests.conftest import DEFAULT_PASSWORD, TEST_SECRET, MakeUser
from tests.servers import running_server


@pytest.fixture
def server(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback only
    env = {"DATABASE_URL": database_url, "JWT_SECRET_KEY": TEST_SECRET}
    with running_server(env) as base_url:
        yield base_url


def test_requests_oauthlib_password_grant_and_refresh(server: str, make_user: MakeUser) -> None:
    user = make_user()
    session = OAuth2Session(client=LegacyApplicationClient(client_id="notes-web"))
    first = session.fetch_token(
        f"{server}/token",
        username=user.username,
        password=DEFAULT_PASSWORD,
        client_id="notes-web",
    )
    assert session.get(f"{server}/identify/me").json()["username"] == user.username
    second = session.refresh_token(f"{server}/token", client_id="notes-web")
    assert second["refresh_token"] != first["refresh_token"]
    assert session.get(f"{server}/identify/me").status_code == 200


def test_requests_oauthlib_sees_invalid_grant_for_a_wrong_password(
    server: str, make_user: MakeUser
) -> None:
    user = make_user()
    session = OAuth2Session(client=LegacyApplicationClient(client_id="notes-web"))
    with pytest.raises(InvalidGrantError):
        session.fetch_token(f"{server}/token", username=user.username, password="wrong-pass")


def test_authlib_password_grant_refresh_and_revoke(server: str, make_user: MakeUser) -> None:
    user = make_user()
    session = AuthlibSession(client_id="notes-web", token_endpoint=f"{server}/token")
    session.fetch_token(username=user.username, password=DEFAULT_PASSWORD)
    assert session.get(f"{server}/identify/me").status_code == 200
    renewed = session.refresh_token(f"{server}/token")
    response = session.revoke_token(
        f"{server}/token/revoke", token=renewed["refresh_token"], token_type_hint="refresh_token"
    )
    assert response.status_code == 200
    with pytest.raises(OAuthError, match="invalid_grant"):
        session.refresh_token(f"{server}/token")
