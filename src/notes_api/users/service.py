"""The user directory: finding users and roles, and creating users (the API, sign-up and
the command line). Changing them is the administrators' (`admin.service`).

Each public function is one unit of work: it commits, or raises a domain
error and leaves the database as it was. `find_*` returns None when nothing
matches; `get_*` raises `NotFoundError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from notes_api.actor import Actor
from notes_api.audit.service import AuditAction, record
from notes_api.auth.passwords import hash_password, in_hashing_thread
from notes_api.auth.roles import BuiltinRole
from notes_api.exceptions import (
    ConflictError,
    NotFoundError,
    is_unique_violation,
)
from notes_api.pagination import PageOfRows, paginate
from notes_api.users.models import Role, User


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
    await refuse_taken_email(db, email)
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


async def refuse_taken_email(db: AsyncSession, email: str | None) -> None:
    if email is not None and await db.scalar(select(User.id).where(User.email == email)):
        raise ConflictError("Email is already taken")
