"""Use cases for users and roles, shared by the HTTP API and the command line.

Each public function is one unit of work: it commits, or raises a domain
error and leaves the database as it was. `find_*` returns None when nothing
matches; `get_*` raises `NotFoundError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from notes_api.audit.service import Actor, AuditAction, record
from notes_api.auth.passwords import hash_password, in_hashing_thread
from notes_api.auth.roles import BUILTIN_ROLES, BuiltinRole
from notes_api.exceptions import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    is_unique_violation,
)
from notes_api.pagination import PageOfRows, paginate
from notes_api.sessions.session_store import EndCause, end_user_sessions
from notes_api.users.models import Role, User, user_roles
from notes_api.users.schemas import UserUpdate


async def _unique_or_conflict(db: AsyncSession, conflict: str) -> AsyncIterator[None]:
    """Writes inside become a 409 when a unique constraint refuses them: the checks before
    them answer the common case, this the request that lost a race to a concurrent one."""
    try:
        yield
    except IntegrityError as exc:
        await db.rollback()
        if not is_unique_violation(exc):
            raise
        raise ConflictError(conflict) from None


unique_or_conflict = asynccontextmanager(_unique_or_conflict)
"""Wrapped rather than decorated: mutmut (`make mutate`) skips decorated functions."""


async def hash_in_thread(password: str) -> str:
    return await in_hashing_thread(hash_password, password)


def _users_with_roles() -> Select[User]:
    """Users with their roles loaded in the same round trip (never lazily, never one per user)."""
    return select(User).options(selectinload(User.roles))


async def find_user_by_username(db: AsyncSession, username: str) -> User | None:
    return await db.scalar(_users_with_roles().where(User.username == username.lower()))


async def get_user(db: AsyncSession, user_id: int) -> User:
    user = await db.scalar(_users_with_roles().where(User.id == user_id))
    if user is None:
        raise NotFoundError(f"No user with id {user_id}")
    return user


async def get_user_by_username(db: AsyncSession, username: str) -> User:
    user = await find_user_by_username(db, username)
    if user is None:
        raise NotFoundError(f"No user named {username!r}")
    return user


async def list_users(
    db: AsyncSession, *, limit: int, after_id: int | None = None
) -> PageOfRows[User]:
    """Users by id, `limit` at a time, each with roles (two queries per page, not one per user)."""
    query = _users_with_roles().order_by(User.id).limit(limit + 1)
    if after_id is not None:
        query = query.where(User.id > after_id)
    return paginate(list(await db.scalars(query)), limit, lambda user: user.id)


async def get_role(db: AsyncSession, name: str) -> Role:
    role = await db.scalar(select(Role).where(Role.name == name))
    if role is None:
        raise NotFoundError(f"No role named {name!r}")
    return role


async def roles_named(db: AsyncSession, names: Sequence[str]) -> list[Role]:
    wanted = set(names)
    roles = list(await db.scalars(select(Role).where(Role.name.in_(wanted))))
    missing = wanted - {role.name for role in roles}
    if missing:
        raise NotFoundError(f"No role named {', '.join(sorted(missing))}")
    return roles


async def list_roles(db: AsyncSession) -> list[Role]:
    return list(await db.scalars(select(Role).order_by(Role.name)))


async def create_user(
    db: AsyncSession,
    actor: Actor,
    *,
    username: str,
    password: str,
    email: str | None = None,
    role_names: Sequence[str] = (BuiltinRole.USER,),
) -> User:
    """Hashes first, outside any transaction: no connection is held during the hash."""
    hashed_password = await hash_in_thread(password)
    roles = await roles_named(db, role_names)
    await _refuse_taken_username(db, username)
    await _refuse_taken_email(db, email)
    user = User(
        username=username.lower(), email=email, hashed_password=hashed_password, roles=roles
    )
    async with unique_or_conflict(db, "Username or email already taken"):
        db.add(user)
        await db.flush()
        record(db, AuditAction.USER_CREATED, actor, target=user.username, roles=sorted(role_names))
        await db.commit()
    return await get_user(db, user.id)


async def _refuse_taken_username(db: AsyncSession, username: str) -> None:
    if await db.scalar(select(User.id).where(User.username == username.lower())) is not None:
        raise ConflictError(f"Username {username!r} is already taken")


async def _refuse_taken_email(db: AsyncSession, email: str | None) -> None:
    if email is not None and await db.scalar(select(User.id).where(User.email == email)):
        raise ConflictError("Email is already taken")


async def update_user(db: AsyncSession, actor: Actor, user_id: int, changes: UserUpdate) -> User:
    """Apply the fields the client sent (`email: null` clears the email).

    Disabling a user or changing their password ends their sessions; the last
    enabled administrator cannot be disabled.
    """
    sent = changes.model_fields_set
    new_hash = None if changes.password is None else await hash_in_thread(changes.password)
    user = await get_user(db, user_id)
    if "email" in sent and changes.email != user.email:
        await _refuse_taken_email(db, changes.email)
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
    async with unique_or_conflict(db, "Email is already taken"):
        await db.commit()
    return user


async def grant_role(db: AsyncSession, actor: Actor, user_id: int, role_name: str) -> None:
    """Idempotent: granting a role the user already has changes nothing. Nobody may grant
    roles to themselves (a demoted administrator must not reinstate itself)."""
    if actor.id == user_id:
        raise ForbiddenError("Nobody may grant roles to themselves")
    user = await get_user(db, user_id)
    role = await get_role(db, role_name)
    if role.name in user.role_names:
        return
    await db.execute(insert(user_roles).values(user_id=user.id, role_id=role.id))
    record(db, AuditAction.ROLE_GRANTED, actor, target=user.username, role=role.name)
    try:
        await db.commit()
    except IntegrityError as exc:
        await db.rollback()
        if not is_unique_violation(exc):
            raise
        # granted concurrently: the row is there, as asked


async def revoke_role(db: AsyncSession, actor: Actor, user_id: int, role_name: str) -> None:
    """Idempotent; refuses to take `admin` from the last enabled administrator."""
    user = await get_user(db, user_id)
    role = await get_role(db, role_name)
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
    async with unique_or_conflict(db, f"Role {name!r} already exists"):
        db.add(role)
        record(db, AuditAction.ROLE_CREATED, actor, target=name)
        await db.commit()
    return role


async def delete_role(db: AsyncSession, actor: Actor, name: str) -> None:
    if name in BUILTIN_ROLES:
        raise ConflictError(f"Built-in role {name!r} cannot be deleted")
    role = await get_role(db, name)
    await db.execute(delete(Role).where(Role.id == role.id))
    record(db, AuditAction.ROLE_DELETED, actor, target=name)
    await db.commit()
