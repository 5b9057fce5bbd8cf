"""Administrative writes re-check, in the database, that the caller is still an enabled admin.

The access token says `admin`, and the revocation cache refuses it within a
second of the role being taken away or the user being disabled. Within that
second, a demoted administrator could still re-enable itself, grant itself
`admin` again, or lock the other administrators out. So every administrative
write first reads the caller's row (one indexed read, on a rare path) and
answers 401, as for a revoked token, unless the caller is enabled and holds
`admin` now.

It lives in the user directory, not in `admin/`, because administrative routes
live in several domains (`/users/{id}/sessions` in accounts, `/users/{id}/mfa`
in mfa) and `admin` sits above `sessions`, which needs `mfa`: a dependency that
only reads users and roles must sit below every domain that uses it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select

from notes_api.actor import Actor
from notes_api.auth.authorize import role_refusal
from notes_api.auth.dependencies import CurrentToken, invalid_token
from notes_api.auth.roles import BuiltinRole
from notes_api.dependencies import DbSession
from notes_api.request_context import client_ip
from notes_api.users.models import Role, User, user_roles

ADMIN_ONLY = frozenset({BuiltinRole.ADMIN})


async def current_admin(request: Request, db: DbSession, token: CurrentToken) -> Actor:
    # FastAPI resolves this before the route's own role check: answer as that would (403,
    # or 401 for an `admin` withheld until a second factor under MFA_REQUIRED_ROLES).
    if refusal := role_refusal(ADMIN_ONLY, token):
        raise refusal
    await _refuse_unless_still_admin(db, token.id)
    return Actor(id=token.id, client_ip=client_ip(request))


async def admin_powers(db: DbSession, token: CurrentToken) -> bool:
    """Whether the caller may write as an administrator on a route open to other roles too
    (someone else's note): False without `admin` in the token, at no cost; with it, the
    same re-check as `current_admin`, so a demoted administrator's token is refused rather
    than quietly used as an administrator's."""
    if BuiltinRole.ADMIN not in token.roles:
        return False
    await _refuse_unless_still_admin(db, token.id)
    return True


async def _refuse_unless_still_admin(db: DbSession, user_id: int) -> None:
    still_admin = await db.scalar(
        select(User.id)
        .join(user_roles, user_roles.c.user_id == User.id)
        .join(Role, Role.id == user_roles.c.role_id)
        .where(User.id == user_id, User.disabled.is_(False), Role.name == BuiltinRole.ADMIN)
    )
    if still_admin is None:
        raise invalid_token()


AdminActor = Annotated[Actor, Depends(current_admin)]
AdminPowers = Annotated[bool, Depends(admin_powers)]
