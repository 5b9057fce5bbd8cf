"""What a login or a rotation hands out: the session's next refresh token, stored as its
hash, and an access token carrying the roles the user holds at that moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.auth.tokens import AccessTokenCodec, hash_refresh_token, new_refresh_token
from notes_api.clock import as_utc
from notes_api.policies import RefreshPolicy
from notes_api.sessions.models import RefreshToken
from notes_api.sessions.session_store import LiveSession
from notes_api.users.models import Role, user_roles


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


_ROLE_NAMES = (
    select(Role.name)
    .join(user_roles, user_roles.c.role_id == Role.id)
    .where(user_roles.c.user_id == bindparam("user_id"))
    .order_by(Role.name)
)
"""Built once: every login and refresh runs it."""
_NEW_REFRESH_TOKEN = insert(RefreshToken)
"""A statement rather than an ORM object and a flush: every login and refresh inserts one.
Its VALUES are the keys of the parameters it runs with."""


async def role_names(db: AsyncSession, user_id: int) -> list[str]:
    return list(await db.scalars(_ROLE_NAMES, {"user_id": user_id}))


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
    """The next refresh token of the session, and an access token with the roles the
    user holds now (read while the user row is locked)."""
    roles = await role_names(db, user_id)
    refresh_token = new_refresh_token()
    family_expires_at = as_utc(session.expires_at)
    await db.execute(
        _NEW_REFRESH_TOKEN,
        {
            "token_hash": hash_refresh_token(refresh_token),
            "user_id": user_id,
            "family_id": family_id,
            "session_id": session.id,
            "issued_at": now,
            "expires_at": min(now + policy.lifetime, family_expires_at),
            "family_expires_at": family_expires_at,
        },
    )
    await db.commit()
    access_token = codec.encode(
        user_id=user_id,
        username=username,
        roles=roles,
        session_id=session.sid,
        amr=session.amr,
        issued_at=now,
        session_expires_at=family_expires_at,
    )
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=int((codec.expiry(now, family_expires_at) - now).total_seconds()),
    )
