"""User and role administration: the use cases behind the admin API and the command line.

Each public function is one unit of work: it commits, or raises a domain error and leaves
the database as it was. Disabling a user or setting their password ends their sessions,
which is why administration sits above `sessions` while the user directory sits below it.
"""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.actor import Actor
from notes_api.audit.service import AuditAction, record
from notes_api.auth.roles import BUILTIN_ROLES, BuiltinRole
from notes_api.exceptions import ConflictError, ForbiddenError, is_unique_violation
from notes_api.sessions.session_store import EndCause, end_user_sessions
from notes_api.users import service as users
from notes_api.users.models import Role, User, user_roles
from notes_api.users.schemas import UserUpdate


async def update_user(db: AsyncSession, actor: Actor, user_id: int, changes: UserUpdate) -> User:
    """Apply the fields the client sent (`email: null` clears the email).

    Disabling a user or changing their password ends their sessions; the last
    enabled administrator cannot be disabled.
    """
    sent = changes.model_fields_set
    new_hash = None if changes.password is None else await users.hash_in_thread(changes.password)
    user = await users.get_user(db, user_id)
    if "email" in sent and changes.email != user.email:
        await users.refuse_taken_email(db, changes.email)
        user.email = changes.email
    if new_hash is not None:
        user.hashed_password = new_hash
        record(db, AuditAction.PASSWORD_CHANGED, actor, target=user.username)
    if changes.disabled is not None and changes.disabled != user.disabled:
        if changes.disabled and BuiltinRole.ADMIN in user.role_names:
            await _refuse_losing_the_last_admin(db)
        if not changes.disabled and actor.id == user.id:
            raise ForbiddenError("Nobody may enable themselves")
        user.disabled = changes.disabled
        action = AuditAction.USER_DISABLED if changes.disabled else AuditAction.USER_ENABLED
        record(db, action, actor, target=user.username)
    if user.disabled:
        await end_user_sessions(db, user.id, EndCause.DISABLED)
    elif new_hash is not None:
        await end_user_sessions(db, user.id, EndCause.PASSWORD_CHANGED)
    async with users.unique_or_conflict(db, "Email is already taken"):
        await db.commit()
    return user


async def grant_role(db: AsyncSession, actor: Actor, user_id: int, role_name: str) -> None:
    """Idempotent: granting a role the user already has changes nothing. Nobody may grant
    roles to themselves (a demoted administrator must not reinstate itself)."""
    if actor.id == user_id:
        raise ForbiddenError("Nobody may grant roles to themselves")
    user = await users.get_user(db, user_id)
    role = await users.get_role(db, role_name)
    if role.name in user.role_names:
        return
    try:
        # In the try: PostgreSQL refuses the INSERT itself, not the commit, when a
        # concurrent grant of the same role committed first.
        await db.execute(insert(user_roles).values(user_id=user.id, role_id=role.id))
        record(db, AuditAction.ROLE_GRANTED, actor, target=user.username, role=role.name)
        await db.commit()
    except IntegrityError as exc:
        await db.rollback()
        if not is_unique_violation(exc):
            raise
        # granted concurrently: the row is there, as asked


async def revoke_role(db: AsyncSession, actor: Actor, user_id: int, role_name: str) -> None:
    """Idempotent; refuses to take `admin` from the last enabled administrator."""
    user = await users.get_user(db, user_id)
    role = await users.get_role(db, role_name)
    if role.name not in user.role_names:
        return
    if role.name == BuiltinRole.ADMIN and not user.disabled:
        await _refuse_losing_the_last_admin(db)
    await db.execute(
        delete(user_roles).where(user_roles.c.user_id == user.id, user_roles.c.role_id == role.id)
    )
    record(db, AuditAction.ROLE_REVOKED, actor, target=user.username, role=role.name)
    await db.commit()


async def _refuse_losing_the_last_admin(db: AsyncSession) -> None:
    """Refuse when only one enabled administrator is left.

    The admin role's row is locked first (PostgreSQL; SQLite transactions are
    serialized already), so two administrators revoking each other at the same
    time cannot both succeed and leave nobody in charge.
    """
    await db.execute(select(Role.id).where(Role.name == BuiltinRole.ADMIN).with_for_update())
    if await _enabled_admins(db) <= 1:
        raise ConflictError("The last enabled administrator must stay an enabled administrator")


async def _enabled_admins(db: AsyncSession) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(user_roles)
        .join(Role, Role.id == user_roles.c.role_id)
        .join(User, User.id == user_roles.c.user_id)
        .where(Role.name == BuiltinRole.ADMIN, User.disabled.is_(False))
    )
    return count or 0


async def create_role(db: AsyncSession, actor: Actor, *, name: str, description: str = "") -> Role:
    if await db.scalar(select(Role.id).where(Role.name == name)) is not None:
        raise ConflictError(f"Role {name!r} already exists")
    role = Role(name=name, description=description)
    async with users.unique_or_conflict(db, f"Role {name!r} already exists"):
        db.add(role)
        record(db, AuditAction.ROLE_CREATED, actor, target=name)
        await db.commit()
    return role


async def delete_role(db: AsyncSession, actor: Actor, name: str) -> None:
    if name in BUILTIN_ROLES:
        raise ConflictError(f"Built-in role {name!r} cannot be deleted")
    role = await users.get_role(db, name)
    await db.execute(delete(Role).where(Role.id == role.id))
    record(db, AuditAction.ROLE_DELETED, actor, target=name)
    await db.commit()
