"""Personal access tokens: made from an access token, listed, deleted, and checked on each use.

A personal token acts with its own roles that its owner still holds, so a role
taken from the owner leaves the token too, and a disabled owner's tokens stop
at once: each use reads the token's row and the owner's current roles in one
indexed query. JWT requests never come here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from http import HTTPStatus

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from notes_api.actor import Actor
from notes_api.audit.service import AuditAction, record
from notes_api.auth.personal_tokens import (
    hash_personal_token,
    is_well_formed,
    new_personal_token,
)
from notes_api.auth.tokens import InvalidTokenError, TokenData, join_roles, split_roles
from notes_api.clock import as_utc, utcnow
from notes_api.database import Reader
from notes_api.exceptions import DomainError, NotFoundError
from notes_api.personal_tokens.models import PersonalAccessToken
from notes_api.personal_tokens.schemas import PersonalTokenCreate
from notes_api.users.models import Role, User, user_roles

LAST_USED_GRANULARITY = timedelta(minutes=1)
SECOND_FACTOR_METHOD = "otp"


class RolesNotHeldError(DomainError):
    """Asked for roles the caller does not hold (now, in the database)."""

    status_code = HTTPStatus.UNPROCESSABLE_ENTITY


class SecondFactorRequiredError(DomainError):
    """A role of MFA_REQUIRED_ROLES asked for by a token whose login had no second factor."""

    status_code = HTTPStatus.UNAUTHORIZED

    def __init__(self, roles: Iterable[str]) -> None:
        self.roles = frozenset(roles)
        """The router names them in the RFC 9470 challenge."""
        super().__init__(
            "Log in with your second factor to put these roles into a personal token: "
            + ", ".join(sorted(self.roles))
        )


async def create_token(
    db: AsyncSession,
    actor: Actor,
    caller: TokenData,
    payload: PersonalTokenCreate,
    mfa_required_roles: frozenset[str],
) -> tuple[PersonalAccessToken, str]:
    """The new token's row and the token itself, which is not stored and never shown again.

    Roles are checked against the caller's roles in the database, not those in the
    access token, which may predate a revocation. Without `roles`, the token gets every
    role the caller may delegate: a role of MFA_REQUIRED_ROLES only after a second factor.
    """
    held = set(
        await db.scalars(
            select(Role.name).join(user_roles).where(user_roles.c.user_id == caller.id)
        )
    )
    second_factor = SECOND_FACTOR_METHOD in caller.amr
    if payload.roles is None:
        roles = held if second_factor else held - mfa_required_roles
    else:
        roles = set(payload.roles)
        if missing := roles - held:
            raise RolesNotHeldError(f"Not roles of yours: {', '.join(sorted(missing))}")
        if roles & mfa_required_roles and not second_factor:
            raise SecondFactorRequiredError(roles & mfa_required_roles)
    token = new_personal_token()
    now = utcnow()
    row = PersonalAccessToken(
        user_id=caller.id,
        name=payload.name,
        token_hash=hash_personal_token(token),
        roles=join_roles(sorted(roles)),
        amr=",".join(caller.amr),
        created_at=now,
        expires_at=now + timedelta(days=payload.expires_in_days),
        last_used_at=None,
    )
    db.add(row)
    await db.flush()
    record(
        db,
        AuditAction.PERSONAL_TOKEN_CREATED,
        actor,
        target=caller.username,
        token_id=row.id,
        name=payload.name,
        roles=sorted(roles),
        expires_at=row.expires_at.isoformat(),
    )
    await db.commit()
    return row, token


async def list_tokens(db: AsyncSession, user_id: int) -> Sequence[PersonalAccessToken]:
    query = (
        select(PersonalAccessToken)
        .where(PersonalAccessToken.user_id == user_id)
        .order_by(PersonalAccessToken.id.desc())
    )
    return (await db.scalars(query)).all()


async def delete_token(db: AsyncSession, actor: Actor, caller: TokenData, token_id: int) -> None:
    """Delete one of the caller's tokens; it is refused from the next request on."""
    deleted = await db.scalar(
        delete(PersonalAccessToken)
        .where(PersonalAccessToken.id == token_id, PersonalAccessToken.user_id == caller.id)
        .returning(PersonalAccessToken.name)
    )
    if deleted is None:
        raise NotFoundError("No such personal access token")
    record(
        db,
        AuditAction.PERSONAL_TOKEN_DELETED,
        actor,
        target=caller.username,
        token_id=token_id,
        name=deleted,
    )
    await db.commit()


_LOOKUP = (
    select(
        PersonalAccessToken.id,
        PersonalAccessToken.user_id,
        PersonalAccessToken.roles,
        PersonalAccessToken.amr,
        PersonalAccessToken.expires_at,
        PersonalAccessToken.last_used_at,
        User.username,
        User.disabled,
        Role.name.label("held_role"),
    )
    .join(User, User.id == PersonalAccessToken.user_id)
    .outerjoin(user_roles, user_roles.c.user_id == User.id)
    .outerjoin(Role, Role.id == user_roles.c.role_id)
    .where(PersonalAccessToken.token_hash == bindparam("digest"))
)
"""One round trip: the token's row by its unique digest, its owner, one row per role the
owner holds now."""


class PersonalTokens:
    """Checks personal tokens for the bearer dependency (a `PersonalTokenVerifier`)."""

    def __init__(
        self, reader: Reader, engine: AsyncEngine, mfa_required_roles: frozenset[str]
    ) -> None:
        """Looks tokens up through `reader`; writes `last_used_at` through `engine`."""
        self.reader = reader
        self.engine = engine
        self.mfa_required_roles = mfa_required_roles

    async def verify(self, token: str) -> TokenData:
        if not is_well_formed(token):
            raise InvalidTokenError("malformed personal token")
        rows = await self.reader.all(_LOOKUP, {"digest": hash_personal_token(token)})
        if not rows:
            raise InvalidTokenError("unknown personal token")
        # Readers hand back plain tuples, in _LOOKUP's column order.
        token_id, user_id, roles, amr_text, expires_at, last_used_at, username, disabled, _ = rows[
            0
        ]
        now = utcnow()
        if disabled:
            raise InvalidTokenError("owner disabled")
        if as_utc(expires_at) <= now:
            raise InvalidTokenError("personal token expired")
        held = {row[-1] for row in rows}
        amr = split_roles(amr_text)
        if SECOND_FACTOR_METHOD not in amr:
            # A role added to MFA_REQUIRED_ROLES after the token was made stops counting.
            held -= self.mfa_required_roles
        if last_used_at is None or as_utc(last_used_at) <= now - LAST_USED_GRANULARITY:
            await self._touch(token_id, now)
        return TokenData(
            id=user_id,
            username=username,
            roles=[role for role in split_roles(roles) if role in held],
            amr=amr,
            via_personal_token=True,
        )

    async def _touch(self, token_id: int, now: datetime) -> None:
        """`last_used_at`, at most once a minute: the condition makes concurrent requests of
        one token write it once between them."""
        cutoff = now - LAST_USED_GRANULARITY
        statement = (
            update(PersonalAccessToken)
            .where(PersonalAccessToken.id == token_id)
            .where(
                (PersonalAccessToken.last_used_at.is_(None))
                | (PersonalAccessToken.last_used_at <= cutoff)
            )
            .values(last_used_at=now)
        )
        async with self.engine.begin() as connection:  # like a session: not the reads' gate
            await connection.execute(statement)
