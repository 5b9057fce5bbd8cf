"""What a login or a rotation hands out: the session's next refresh token, stored as its
hash, and an access token carrying the roles the user holds at that moment.

A login writes three rows, its session, the session's first refresh token and the audit
entry of the login, and reads the roles its access token carries. On PostgreSQL that is
one statement: the INSERTs are data-modifying CTEs of the roles' SELECT (the refresh
token takes its session's id from the session INSERT's RETURNING), so the login pays one
round trip where it paid four. The caller has locked the user row in an earlier statement
of the same transaction; under READ COMMITTED a statement reads a snapshot taken when it
starts, so the roles are still read after the lock was granted, as the lock's guarantee
(`session_store.lock_user`) needs. SQLite has no data-modifying CTEs: there the same
statements run one at a time, which costs an embedded database no round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.audit.service import NEW_EVENT
from notes_api.auth.tokens import (
    AccessTokenCodec,
    hash_refresh_token,
    new_family_id,
    new_refresh_token,
    new_session_id,
)
from notes_api.clock import as_utc
from notes_api.database import execute_core
from notes_api.policies import RefreshPolicy
from notes_api.sessions.models import RefreshToken
from notes_api.sessions.session_model import LoginSession
from notes_api.sessions.session_store import ClientInfo, LiveSession, join_amr
from notes_api.users.models import Role, user_roles


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


# Built once: every login and refresh runs these.
_ROLE_NAMES = (
    select(Role.name)
    .join(user_roles, user_roles.c.role_id == Role.id)
    .where(user_roles.c.user_id == bindparam("user_id"))
    .order_by(Role.name)
)
_NEW_SESSION = (
    insert(LoginSession)
    .values(
        sid=bindparam("sid"),
        user_id=bindparam("user_id"),
        created_at=bindparam("now"),
        last_used_at=bindparam("now"),
        expires_at=bindparam("session_expires_at"),
        client_ip=bindparam("client_ip"),
        user_agent=bindparam("user_agent"),
        amr=bindparam("amr"),
    )
    .returning(LoginSession.id)
)
_REFRESH_TOKEN_VALUES: dict[str, BindParameter[Any]] = {
    "token_hash": bindparam("token_hash"),
    "user_id": bindparam("user_id"),
    "family_id": bindparam("family_id"),
    "issued_at": bindparam("now"),
    "expires_at": bindparam("token_expires_at"),
    "family_expires_at": bindparam("session_expires_at"),
}
_NEW_REFRESH_TOKEN = insert(RefreshToken).values(
    **_REFRESH_TOKEN_VALUES, session_id=bindparam("session_id")
)
_new_session = _NEW_SESSION.cte("new_session")
_LOGIN_IN_ONE_STATEMENT = _ROLE_NAMES.add_cte(
    _new_session,
    insert(RefreshToken)
    .values(**_REFRESH_TOKEN_VALUES, session_id=select(_new_session.c.id).scalar_subquery())
    .cte("first_token"),
    NEW_EVENT.cte("login_recorded"),
)
"""PostgreSQL: the session, its first refresh token and the audit entry written, and the
roles read, in one round trip. Module-level, like every statement here, so it is built once
(and outside mutmut's reach: the tests that run it are the login tests on PostgreSQL)."""


async def role_names(db: AsyncSession, user_id: int) -> list[str]:
    return list((await execute_core(db, _ROLE_NAMES, {"user_id": user_id})).scalars())


async def issue_first_tokens(
    db: AsyncSession,
    user_id: int,
    username: str,
    codec: AccessTokenCodec,
    policy: RefreshPolicy,
    *,
    amr: Sequence[str],
    client: ClientInfo,
    now: datetime,
    login_event: dict[str, Any],
) -> TokenPair:
    """Open a session with its first token pair, record the login (`login_event`, from
    `audit.service.event_parameters`) and commit. The caller holds the user row's lock
    (`session_store.lock_user`) and has checked the user under it."""
    client = client.capped()
    sid, refresh_token = new_session_id(), new_refresh_token()
    session_expires_at = now + policy.family_lifetime
    session = {
        "sid": sid,
        "user_id": user_id,
        "now": now,
        "session_expires_at": session_expires_at,
        "client_ip": client.client_ip,
        "user_agent": client.user_agent,
        "amr": join_amr(amr),
    }
    token = _token_parameters(
        user_id, refresh_token, new_family_id(), now, session_expires_at, policy
    )
    if db.new:  # entries the caller recorded first (a recovery code used) stay first
        await db.flush()
    if db.get_bind().dialect.name == "postgresql":
        everything = {**session, **token, **login_event}
        roles = list((await execute_core(db, _LOGIN_IN_ONE_STATEMENT, everything)).scalars())
    else:
        session_id = (await execute_core(db, _NEW_SESSION, session)).scalar_one()
        await execute_core(db, _NEW_REFRESH_TOKEN, {**token, "session_id": session_id})
        await execute_core(db, NEW_EVENT, login_event)
        roles = await role_names(db, user_id)
    await db.commit()
    return _token_pair(
        codec, user_id, username, roles, sid, amr, session_expires_at, refresh_token, now
    )


async def issue_tokens(
    db: AsyncSession,
    user_id: int,
    username: str,
    codec: AccessTokenCodec,
    policy: RefreshPolicy,
    session: LiveSession,
    family_id: str,
    now: datetime,
) -> TokenPair:
    """The next refresh token of a live session, and an access token with the roles the
    user holds now (read while the user row is locked). Commits."""
    roles = await role_names(db, user_id)
    refresh_token = new_refresh_token()
    family_expires_at = as_utc(session.expires_at)
    await execute_core(
        db,
        _NEW_REFRESH_TOKEN,
        {
            **_token_parameters(user_id, refresh_token, family_id, now, family_expires_at, policy),
            "session_id": session.id,
        },
    )
    await db.commit()
    return _token_pair(
        codec,
        user_id,
        username,
        roles,
        session.sid,
        session.amr,
        family_expires_at,
        refresh_token,
        now,
    )


def _token_parameters(
    user_id: int,
    refresh_token: str,
    family_id: str,
    now: datetime,
    session_expires_at: datetime,
    policy: RefreshPolicy,
) -> dict[str, Any]:
    """A refresh token never outlives its session."""
    return {
        "token_hash": hash_refresh_token(refresh_token),
        "user_id": user_id,
        "family_id": family_id,
        "now": now,
        "token_expires_at": min(now + policy.lifetime, session_expires_at),
        "session_expires_at": session_expires_at,
    }


def _token_pair(
    codec: AccessTokenCodec,
    user_id: int,
    username: str,
    roles: list[str],
    sid: str,
    amr: Sequence[str],
    session_expires_at: datetime,
    refresh_token: str,
    now: datetime,
) -> TokenPair:
    access_token = codec.encode(
        user_id=user_id,
        username=username,
        roles=roles,
        session_id=sid,
        amr=list(amr),
        issued_at=now,
        session_expires_at=session_expires_at,
    )
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=int((codec.expiry(now, session_expires_at) - now).total_seconds()),
    )
