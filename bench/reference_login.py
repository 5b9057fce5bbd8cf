"""The reference for `POST /token` (password grant): a login's work in the fastest shape we know.

The same statements, compiled once from the app's own SQLAlchemy objects, in the same
two transactions with the same locks (the throttle's reservation: the address's advisory
lock, the counts that delete expired attempts, the attempt's INSERT, the user with the
TOTP flag; the verdict: the pair's failures cleared, the user row locked, the session, its
first refresh token and the audit entry written with the roles read), the same argon2 on
the same low-priority hashing threads, the same token codec and the same form model, in a
FastAPI route with nothing else: no SQLAlchemy session, no middleware, no dependencies
besides the form, no metrics. What it leaves out are the refusals' bookkeeping (a wrong
password answers 400 and records nothing) and the MFA branch: the bench logs in users with
no second factor, who never reach either.

It answers what 0.8 of raw argon2 asks of a login on this stack: `python -m bench.login_cpu`
serves it beside the app and prints both over raw argon2. Served by `bench.reference:app`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from psycopg import AsyncConnection, AsyncCursor
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Executable
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect

from notes_api.actor import Actor
from notes_api.audit.service import AuditAction, event_parameters
from notes_api.auth.passwords import in_hashing_thread, verify_password
from notes_api.auth.tokens import (
    AccessTokenCodec,
    hash_refresh_token,
    new_family_id,
    new_refresh_token,
    new_session_id,
)
from notes_api.clock import utcnow
from notes_api.config import Settings
from notes_api.ip_addresses import canonical_ip
from notes_api.policies import RefreshPolicy
from notes_api.sessions import issuing, service, session_store
from notes_api.sessions.schemas import TokenRequest, TokenResponse
from notes_api.throttling import throttle
from notes_api.validation import storable_username

_DIALECT = psycopg_dialect.dialect()


@dataclass(frozen=True)
class _Query:
    sql: str
    """`%(name)s` placeholders, as psycopg takes them."""
    constants: dict[str, Any]
    """The values the statement itself carries (`pending=True`)."""

    async def run(
        self, connection: AsyncConnection[Any], parameters: dict[str, Any]
    ) -> AsyncCursor[Any]:
        return await connection.execute(self.sql, {**self.constants, **parameters})


def _sql(statement: Executable) -> _Query:
    """The app's statement as psycopg runs it."""
    compiled = statement.compile(dialect=_DIALECT)
    return _Query(str(compiled), {k: v for k, v in compiled.params.items() if v is not None})


LOCK_SQL = _sql(throttle._ADDRESS_LOCK)
COUNTS_SQL = _sql(throttle._EXPIRED_DELETED_AND_ATTEMPT_COUNTS)
NEW_ATTEMPT_SQL = _sql(throttle._NEW_ATTEMPT)
LOGIN_USER_SQL = _sql(service._LOGIN_USER)
CLEARED_ATTEMPTS_SQL = _sql(throttle._CLEARED_ATTEMPTS)
LOCK_USER_SQL = _sql(session_store._LOCK_USER_FOR_UPDATE)
LOGIN_SQL = _sql(issuing._LOGIN_IN_ONE_STATEMENT)


def login_router(
    pool: AsyncConnectionPool[Any], codec: AccessTokenCodec, settings: Settings
) -> APIRouter:
    """`POST /token` on `pool`, issuing with the reference app's `codec`."""
    policy = RefreshPolicy(
        lifetime=timedelta(minutes=settings.refresh_token_expire_minutes),
        family_lifetime=timedelta(minutes=settings.refresh_family_lifetime_minutes),
    )
    in_flight_per_address = settings.login_max_in_flight_per_address
    max_failures_per_user = settings.login_max_failures_per_user
    window = timedelta(minutes=settings.login_failure_window_minutes)
    router = APIRouter()

    @router.post("/token", response_model=TokenResponse)
    async def issue_token(
        request: Request, form: Annotated[TokenRequest, Form()] = TokenRequest()
    ) -> TokenResponse:
        grant_type, username, password = form.grant_type, form.username, form.password
        if grant_type not in (None, "", "password") or not username or not password:
            raise HTTPException(400, "invalid_request")
        client_ip = canonical_ip(request.client.host) if request.client else None
        user_key, address = storable_username(username), throttle.address_key(client_ip)
        now = utcnow()
        async with pool.connection() as connection, connection.transaction():
            await LOCK_SQL.run(connection, {"key": f"login:{address}"})
            counts = await (
                await COUNTS_SQL.run(
                    connection,
                    {
                        "user": user_key,
                        "address": address,
                        "window_start": now - window,
                        "abandoned_before": now - throttle.ABANDONED_AFTER,
                    },
                )
            ).fetchone()
            assert counts is not None  # noqa: S101 - an aggregate has one row
            failures, _, pending, _, _, address_pending = counts
            if address_pending >= in_flight_per_address or pending >= max(
                max_failures_per_user - failures, 1
            ):
                raise HTTPException(429, "temporarily_unavailable")
            attempt = await (
                await NEW_ATTEMPT_SQL.run(
                    connection, {"user": user_key, "address": address, "now": now}
                )
            ).fetchone()
            user = await (
                await LOGIN_USER_SQL.run(connection, {"username": username.lower()})
            ).fetchone()
        if user is None or attempt is None:
            raise HTTPException(400, "invalid_grant")
        user_id, name, hashed = user[0], user[1], user[2]  # id, username, hashed_password
        valid, _ = await in_hashing_thread(verify_password, password, hashed)
        if not valid:
            raise HTTPException(400, "invalid_grant")
        sid, refresh = new_session_id(), new_refresh_token()
        session_expires_at = now + policy.family_lifetime
        event = event_parameters(
            AuditAction.LOGIN_SUCCEEDED, Actor(id=user_id, client_ip=client_ip), target=name
        )
        async with pool.connection() as connection, connection.transaction():
            await CLEARED_ATTEMPTS_SQL.run(
                connection, {"attempt_id": attempt[0], "user": user_key, "address": address}
            )
            locked = await (await LOCK_USER_SQL.run(connection, {"user_id": user_id})).fetchone()
            if locked is None or locked[1] or locked[0] != hashed:  # disabled, or a new password
                raise HTTPException(400, "invalid_grant")
            roles = await (
                await LOGIN_SQL.run(
                    connection,
                    {
                        **event,
                        "detail": json.dumps(event["detail"]),
                        "sid": sid,
                        "user_id": user_id,
                        "now": now,
                        "session_expires_at": session_expires_at,
                        "client_ip": client_ip,
                        "user_agent": request.headers.get("user-agent"),
                        "amr": "pwd",
                        "token_hash": hash_refresh_token(refresh),
                        "family_id": new_family_id(),
                        "token_expires_at": min(now + policy.lifetime, session_expires_at),
                    },
                )
            ).fetchall()
        access = codec.encode(
            user_id=user_id,
            username=name,
            roles=[role for (role,) in roles],
            session_id=sid,
            amr=["pwd"],
            issued_at=now,
            session_expires_at=session_expires_at,
        )
        expires_in = int((codec.expiry(now, session_expires_at) - now).total_seconds())
        return TokenResponse(access_token=access, expires_in=expires_in, refresh_token=refresh)

    return router
