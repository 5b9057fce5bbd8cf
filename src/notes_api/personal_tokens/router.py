"""`POST/GET /account/tokens`, `DELETE /account/tokens/{token_id}`: the caller's personal tokens.

Any valid access token may manage its owner's personal tokens; a personal token
may not (the bearer dependency answers 403 on `/account`).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from notes_api.auth.authorize import authenticated, insufficient_user_authentication
from notes_api.auth.dependencies import CurrentToken
from notes_api.dependencies import AppSettings, DbSession
from notes_api.personal_tokens import service
from notes_api.personal_tokens.schemas import (
    PersonalTokenCreate,
    PersonalTokenCreated,
    PersonalTokenRead,
)
from notes_api.request_context import CurrentActor
from notes_api.routing import PrefixCheckedRoute
from notes_api.sessions.schemas import NO_STORE
from notes_api.validation import DatabaseId

router = APIRouter(route_class=PrefixCheckedRoute, tags=["account"])


@router.post(
    "/account/tokens",
    status_code=201,
    response_model=PersonalTokenCreated,
    responses={422: {"description": "A role the caller does not hold"}},
    summary="Create a personal access token (shown once)",
)
@authenticated
async def create_token(
    payload: PersonalTokenCreate,
    response: Response,
    db: DbSession,
    token: CurrentToken,
    actor: CurrentActor,
    settings: AppSettings,
) -> PersonalTokenCreated:
    try:
        row, secret = await service.create_token(
            db, actor, token, payload, frozenset(settings.mfa_required_roles)
        )
    except service.RolesNotHeldError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"type": "value_error", "loc": ["body", "roles"], "msg": exc.detail}],
        ) from None
    except service.SecondFactorRequiredError as exc:
        # The same RFC 9470 challenge as `@authorize`'s, error_description included, so a
        # client handles one shape whichever check asked for the second factor.
        raise insufficient_user_authentication(exc.roles) from None
    response.headers.update(NO_STORE)
    created = PersonalTokenRead.model_validate(row, from_attributes=True)
    return PersonalTokenCreated(**created.model_dump(), token=secret)


@router.get(
    "/account/tokens",
    response_model=list[PersonalTokenRead],
    summary="The caller's personal access tokens, newest first, without their secrets",
)
@authenticated
async def list_tokens(
    response: Response, db: DbSession, token: CurrentToken
) -> list[PersonalTokenRead]:
    response.headers.update(NO_STORE)
    rows = await service.list_tokens(db, token.id)
    return [PersonalTokenRead.model_validate(row, from_attributes=True) for row in rows]


@router.delete(
    "/account/tokens/{token_id}",
    status_code=204,
    responses={404: {"description": "No such token of the caller's"}},
    summary="Delete one of the caller's personal access tokens",
)
@authenticated
async def delete_token(
    token_id: DatabaseId, db: DbSession, token: CurrentToken, actor: CurrentActor
) -> None:
    await service.delete_token(db, actor, token, token_id)
