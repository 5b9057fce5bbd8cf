"""User and role administration (role `admin`)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from notes_api.actor import Actor
from notes_api.admin import service
from notes_api.auth.authorize import authorize
from notes_api.auth.roles import BuiltinRole
from notes_api.dependencies import DbSession
from notes_api.exceptions import ConflictError
from notes_api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit
from notes_api.routing import UNKNOWN_USER, PrefixCheckedRoute
from notes_api.users import service as users
from notes_api.users.admin_actor import AdminActor
from notes_api.users.schemas import (
    RoleCreate,
    RoleRead,
    UserCreate,
    UserPage,
    UserRead,
    UserUpdate,
)
from notes_api.validation import DatabaseId, RoleName

router = APIRouter(route_class=PrefixCheckedRoute)

Responses = dict[int | str, dict[str, str]]

UNKNOWN_USER_OR_ROLE: Responses = {404: {"description": "No such user, or no such role"}}


@router.get("/roles", response_model=list[RoleRead], tags=["roles"])
@authorize(roles=BuiltinRole.ADMIN)
async def list_roles(db: DbSession) -> list[RoleRead]:
    return [RoleRead.model_validate(role) for role in await users.list_roles(db)]


@router.post(
    "/roles",
    response_model=RoleRead,
    status_code=201,
    tags=["roles"],
    responses={409: {"description": "A role of that name exists"}},
)
@authorize(roles=BuiltinRole.ADMIN)
async def create_role(payload: RoleCreate, db: DbSession, actor: AdminActor) -> RoleRead:
    role = await service.create_role(db, actor, name=payload.name, description=payload.description)
    return RoleRead.model_validate(role)


@router.delete(
    "/roles/{name}",
    status_code=204,
    tags=["roles"],
    responses={
        404: {"description": "No such role"},
        409: {"description": "A built-in role (`admin`, `user`) cannot be deleted"},
    },
)
@authorize(roles=BuiltinRole.ADMIN)
async def delete_role(name: RoleName, db: DbSession, actor: AdminActor) -> None:
    await service.delete_role(db, actor, name)


@router.get("/users", response_model=UserPage, tags=["users"])
@authorize(roles=BuiltinRole.ADMIN)
async def list_users(
    db: DbSession, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> UserPage:
    return UserPage.of(await users.list_users(db, limit=limit, after_id=cursor))


@router.post(
    "/users",
    response_model=UserRead,
    status_code=201,
    tags=["users"],
    responses={
        404: {"description": "A role in `roles` does not exist"},
        409: {"description": "The username or the email is taken"},
    },
)
@authorize(roles=BuiltinRole.ADMIN)
async def create_user(
    payload: UserCreate, db: DbSession, actor: AdminActor, response: Response
) -> UserRead:
    user = await users.create_user(
        db,
        actor,
        username=payload.username,
        password=payload.password,
        email=payload.email,
        role_names=payload.roles,
    )
    response.headers["Location"] = f"/users/{user.id}"
    return UserRead.model_validate(user)


@router.get("/users/{user_id}", response_model=UserRead, tags=["users"], responses=UNKNOWN_USER)
@authorize(roles=BuiltinRole.ADMIN)
async def read_user(user_id: DatabaseId, db: DbSession) -> UserRead:
    return UserRead.model_validate(await users.get_user(db, user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserRead,
    tags=["users"],
    responses={
        **UNKNOWN_USER,
        409: {
            "description": "The email is taken, an administrator would disable themselves, "
            "or the last enabled administrator would be disabled"
        },
    },
)
@authorize(roles=BuiltinRole.ADMIN)
async def update_user(
    user_id: DatabaseId, payload: UserUpdate, db: DbSession, actor: AdminActor
) -> UserRead:
    refuse_disabling_oneself(user_id, payload, actor)
    user = await service.update_user(db, actor, user_id, payload)
    return UserRead.model_validate(user)


def refuse_disabling_oneself(user_id: int, payload: UserUpdate, actor: Actor) -> None:
    """An administrator who disables themself is locked out at once, whoever else is left.

    Apart from the endpoint because mutmut (`make mutate`) skips decorated functions."""
    if payload.disabled and user_id == actor.id:
        raise ConflictError("Administrators cannot disable themselves")


@router.put(
    "/users/{user_id}/roles/{name}",
    status_code=204,
    tags=["users"],
    responses={
        **UNKNOWN_USER_OR_ROLE,
        403: {"description": "The token lacks the admin role, or grants a role to its own user"},
    },
)
@authorize(roles=BuiltinRole.ADMIN)
async def grant_role(user_id: DatabaseId, name: RoleName, db: DbSession, actor: AdminActor) -> None:
    await service.grant_role(db, actor, user_id, name)


@router.delete(
    "/users/{user_id}/roles/{name}",
    status_code=204,
    tags=["users"],
    responses={
        **UNKNOWN_USER_OR_ROLE,
        409: {"description": "The last enabled administrator would lose the admin role"},
    },
)
@authorize(roles=BuiltinRole.ADMIN)
async def revoke_role(
    user_id: DatabaseId, name: RoleName, db: DbSession, actor: AdminActor
) -> None:
    await service.revoke_role(db, actor, user_id, name)
