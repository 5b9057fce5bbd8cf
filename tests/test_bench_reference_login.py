"""The bench's reference login (`bench.reference_login`) does the app's login, on PostgreSQL.

Its figures are only worth quoting if it does a login's whole work: the same rows written
and the same token handed out. This serves it as `make bench` does and checks both.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
from bench import servers
from sqlalchemy import func, select

from notes_api.audit.models import AuditEvent
from notes_api.auth.tokens import AccessTokenCodec
from notes_api.config import Settings
from notes_api.sessions.models import RefreshToken
from notes_api.sessions.session_model import LoginSession
from notes_api.throttling.models import LoginAttempt
from tests.conftest import DEFAULT_PASSWORD, insert_user
from tests.databases import POSTGRES_URL, empty_postgres, sync_engine

pytestmark = pytest.mark.skipif(POSTGRES_URL is None, reason="needs TEST_DATABASE_URL")


def test_the_reference_login_writes_what_a_login_writes_and_issues_the_same_token(
    migrated_postgres: str, default_password_hash: str
) -> None:
    empty_postgres(migrated_postgres)
    with sync_engine(migrated_postgres) as engine:
        user = insert_user(engine, "reference", default_password_hash, ["user", "admin"])
        with servers.reference(migrated_postgres) as server:
            login = urllib.request.Request(  # noqa: S310 - our own server
                f"{server.base_url}/token",
                data=urllib.parse.urlencode(
                    {"username": "reference", "password": DEFAULT_PASSWORD}
                ).encode(),
                headers={"User-Agent": "bench"},
            )
            with urllib.request.urlopen(login, timeout=10) as answer:  # noqa: S310
                tokens = json.load(answer)
        with engine.connect() as connection:
            session = connection.execute(select(LoginSession)).one()
            token = connection.execute(select(RefreshToken)).one()
            events = connection.execute(select(AuditEvent.action, AuditEvent.actor_id)).all()
            attempts = connection.scalar(select(func.count()).select_from(LoginAttempt))
    settings = Settings(database_url=migrated_postgres, jwt_secret_key=servers.JWT_SECRET)
    codec = AccessTokenCodec(
        key=settings.signing_key(),
        algorithm=settings.jwt_algorithm,
        issuer=settings.token_issuer,
        audience=settings.jwt_audience,
        lifetime=timedelta(minutes=settings.access_token_expire_minutes),
    )
    claims = codec.decode(tokens["access_token"])
    assert (claims.id, claims.username, sorted(claims.roles)) == (
        user.id,
        "reference",
        ["admin", "user"],
    )
    assert (session.user_id, session.sid, session.amr, session.user_agent) == (
        user.id,
        claims.session_id,
        "pwd",
        "bench",
    )
    assert (token.session_id, token.user_id) == (session.id, user.id)
    assert events == [("login.succeeded", user.id)]
    assert attempts == 0  # the reservation's attempt was cleared by the verdict
