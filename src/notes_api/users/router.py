"""User and role administration (role `admin`), and self-service sign-up when enabled."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Response, status

from notes_api.audit.service import Actor
from notes_api.auth.authorize import authorize
from notes_api.auth.roles import BuiltinRole
from notes_api.dependencies import AppSettings, DbSession
from notes_api.exceptions import ConflictError, NotFoundError
from notes_api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit
from notes_api.request_context import AnonymousActor
from notes_api.users import service
from notes_api.users.admin_actor import AdminActor
from notes_api.users.schemas import (
    RoleCreate,
    RoleRead,
    SignupAccepted,
    SignupRequest,
    UserCreate,
    UserPage,
    UserRead,
    UserUpdate,
)
from notes_api.users.signup import SignupPolicy, SignupThrottledError, sign_up
from notes_api.validation import DatabaseId, RoleName

router = APIRouter()


@router.get("/roles", response_model=list[RoleRead], tags=["roles"])
@authorize(roles=BuiltinRole.ADMIN)
async def list_roles(db: DbSession) -> list[RoleRead]:
    return [RoleRead.model_validate(role) for role in await service.list_roles(db)]


@router.post("/roles", response_model=RoleRead, status_code=201, tags=["roles"])
@authorize(roles=BuiltinRole.ADMIN)
async def create_role(payload: RoleCreate, db: DbSession, actor: AdminActor) -> RoleRead:
    role = await service.create_role(db, actor, name=payload.name, description=payload.description)
    return RoleRead.model_validate(role)


@router.delete("/roles/{name}", status_code=204, tags=["roles"])
@authorize(roles=BuiltinRole.ADMIN)
async def delete_role(name: RoleName, db: DbSession, actor: AdminActor) -> None:
    await service.delete_role(db, actor, name)


@router.get("/users", response_model=UserPage, tags=["users"])
@authorize(roles=BuiltinRole.ADMIN)
async def list_users(
    db: DbSession, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> UserPage:
    return UserPage.of(await service.list_users(db, limit=limit, after_id=cursor))


@router.post("/users", response_model=UserRead, status_code=201, tags=["users"])
@authorize(roles=BuiltinRole.ADMIN)
async def create_user(
    payload: UserCreate, db: DbSession, actor: AdminActor, response: Response
) -> UserRead:
    user = await service.create_user(
        db,
        actor,
        username=payload.username,
        password=payload.password,
        email=payload.email,
        role_names=payload.roles,
    )
    response.headers["Location"] = f"/users/{user.id}"
    return UserRead.model_validate(user)


@router.get("/users/{user_id}", response_model=UserRead, tags=["users"])
@authorize(roles=BuiltinRole.ADMIN)
async def read_user(user_id: DatabaseId, db: DbSession) -> UserRead:
    return UserRead.model_validate(await service.get_user(db, user_id))


@router.patch("/users/{user_id}", response_model=UserRead, tags=["users"])
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


@router.put("/users/{user_id}/roles/{name}", status_code=204, tags=["users"])
@authorize(roles=BuiltinRole.ADMIN)
async def grant_role(user_id: DatabaseId, name: RoleName, db: DbSession, actor: AdminActor) -> None:
    await service.grant_role(db, actor, user_id, name)


@router.delete("/users/{user_id}/roles/{name}", status_code=204, tags=["users"])
@authorize(roles=BuiltinRole.ADMIN)
async def revoke_role(
    user_id: DatabaseId, name: RoleName, db: DbSession, actor: AdminActor
) -> None:
    await service.revoke_role(db, actor, user_id, name)


async def require_signup_enabled(settings: AppSettings) -> None:
    """404 while ALLOW_SIGNUP is off, decided before the body is validated, so a closed
    sign-up answers every request exactly like a path that does not exist."""
    if not settings.allow_signup:
        raise NotFoundError("Not Found")


@router.post(
    "/signup",
    response_model=SignupAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["users"],
    dependencies=[Depends(require_signup_enabled)],
    responses={
        404: {"description": "Sign-up is off (ALLOW_SIGNUP=false)"},
        429: {"description": "Too many sign-ups from this address"},
    },
)
async def signup(
    payload: SignupRequest, db: DbSession, actor: AnonymousActor, settings: AppSettings
) -> SignupAccepted:
    """Self-service registration when ALLOW_SIGNUP=true; new users get the `user` role.

    The answer is the same whether the account was created or the username or email
    was taken, so that nobody can learn from it who has an account: log in to know.
    """
    try:
        await sign_up(
            db,
            actor,
            SignupPolicy.from_settings(settings),
            username=payload.username,
            password=payload.password,
            email=payload.email,
        )
    except SignupThrottledError as throttled:
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail="Too many sign-ups from this address; try again later",
            headers={"Retry-After": str(throttled.retry_after_seconds)},
        ) from None
    return SignupAccepted()
