"""`@authorize(roles="user,admin")`: role checks on the decoded access token.

Modelled on Starlette's `requires`: the decorated function is inspected once,
misuse raises immediately, and the wrapper keeps the endpoint's nature (an
`async def` stays a coroutine on the event loop, a `def` keeps running in the
thread pool, because FastAPI decides by unwrapping `__wrapped__`).

The check itself is a dependency that hands on the token it checked. The
wrapper's `__signature__` gives it the endpoint's own token parameter, or adds it
as a keyword-only parameter when the endpoint asks for no token. FastAPI resolves
dependencies before it validates the query and the body, so a caller without the
role gets 401/403, never a 422 that describes an endpoint it may not use. FastAPI
caches `get_token_data` per request, so the token is decoded once however many
parameters ask for it.

The check takes the token parameter's place rather than sitting beside it because
FastAPI 0.165 solves a cached dependency's own dependencies again every time it is
asked for, and takes a pass over each of them per request (`_get_cache_key`): a
second path to `get_token_data` cost two of the seven it solved for `GET
/notes/{id}`.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, TypeVar, cast, get_args, get_origin

from fastapi import Depends, HTTPException, status
from fastapi.params import Depends as DependsParam

from notes_api.auth.dependencies import CurrentToken, get_token_data
from notes_api.auth.tokens import TokenData, split_roles
from notes_api.validation import ROLE_NAME_PATTERN

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

REQUIRED_ROLES_ATTRIBUTE = "__authorize_roles__"
_GUARD_PARAMETER = "_authorize_guard"
_ROLE_NAME = re.compile(ROLE_NAME_PATTERN)


def parse_roles(roles: str | Iterable[str]) -> frozenset[str]:
    """Accept `"user, admin"` or `["user", "admin"]`; refuse empty or misspelt role lists."""
    names = split_roles(roles) if isinstance(roles, str) else [str(role).strip() for role in roles]
    if not names:
        raise ValueError("@authorize needs at least one role")
    for name in names:
        if not _ROLE_NAME.fullmatch(name):
            raise ValueError(f"@authorize: {name!r} is not a role name (lower-case slug)")
    return frozenset(names)


def required_roles(endpoint: Callable[..., Any]) -> frozenset[str] | None:
    """The roles an endpoint requires (empty: any valid token), or None if it is unguarded."""
    roles: frozenset[str] | None = getattr(endpoint, REQUIRED_ROLES_ATTRIBUTE, None)
    return roles


def forbidden(required: frozenset[str]) -> HTTPException:
    scope = " ".join(sorted(required))
    return HTTPException(
        status_code=status.HTTP_403_FORBIDDEN,
        detail=f"Requires one of the roles: {', '.join(sorted(required))}",
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
    )


def insufficient_user_authentication(withheld: Iterable[str]) -> HTTPException:
    """RFC 9470: the roles are there, the login lacks the second factor they require."""
    description = (
        f"The role {', '.join(sorted(withheld))} requires a second factor: "
        "log in again with it (enroll at /account/mfa/totp first if needed)"
    )
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=description,
        headers={
            "WWW-Authenticate": (
                f'Bearer error="insufficient_user_authentication", '
                f'error_description="{description}"'
            )
        },
    )


def authorize(roles: str | Iterable[str]) -> Callable[[Endpoint], Endpoint]:
    """Let through callers whose access token carries at least one of `roles`."""
    required = parse_roles(roles)
    return lambda endpoint: _guard(endpoint, required)


def authenticated(endpoint: Endpoint) -> Endpoint:
    """Let through any caller with a valid access token, whatever its roles (even none)."""
    return _guard(endpoint, frozenset())


def role_refusal(required: frozenset[str], token: TokenData) -> HTTPException | None:
    """What `@authorize(roles=required)` answers this token: None when one of the roles
    counts (or none is required), 401 `insufficient_user_authentication` when a required
    role is withheld for want of a second factor, 403 otherwise. Dependencies that FastAPI
    resolves before the route's own check answer through this too, so a caller gets the same
    answer whichever check comes first."""
    if not required or not required.isdisjoint(token.roles):
        return None
    withheld = required.intersection(token.withheld_roles)
    if withheld:
        return insufficient_user_authentication(withheld)
    return forbidden(required)


def _role_check(required: frozenset[str]) -> Callable[[TokenData], Awaitable[TokenData]]:
    # async: FastAPI runs a plain `def` dependency in the thread pool, a hop per request.
    async def check_roles(token: CurrentToken) -> TokenData:
        if refusal := role_refusal(required, token):
            raise refusal
        return token

    return check_roles


def _guard(endpoint: Endpoint, required: frozenset[str]) -> Endpoint:
    if required_roles(endpoint) is not None:
        raise TypeError(f"{endpoint.__qualname__} is already guarded")
    signature = inspect.signature(endpoint, eval_str=True)
    _refuse_token_from_the_request(endpoint, signature)
    check = Depends(_role_check(required))
    parameters = list(signature.parameters.values())
    if any(_asks_for_token(parameter) for parameter in parameters):
        parameters = [_checked(parameter, check) for parameter in parameters]
    else:
        guard = inspect.Parameter(
            _GUARD_PARAMETER,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[TokenData, check],
        )
        parameters.append(guard)
    signature = signature.replace(parameters=parameters)

    wrapper: Callable[..., Any]
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs.pop(_GUARD_PARAMETER, None)
            return await endpoint(*args, **kwargs)

        wrapper = async_wrapper
    else:

        @functools.wraps(endpoint)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs.pop(_GUARD_PARAMETER, None)
            return endpoint(*args, **kwargs)

        wrapper = sync_wrapper

    guarded: Any = wrapper
    guarded.__signature__ = signature
    setattr(guarded, REQUIRED_ROLES_ATTRIBUTE, required)
    return cast(Endpoint, guarded)


def _asks_for_token(parameter: inspect.Parameter) -> bool:
    _, metadata = _split(parameter.annotation)
    return any(_is_token_dependency(source) for source in (*metadata, parameter.default))


def _checked(parameter: inspect.Parameter, check: DependsParam) -> inspect.Parameter:
    """`parameter` fed by `check` where it asked for `get_token_data` (in `Annotated` or as
    its default), else as it is."""
    annotation, metadata = _split(parameter.annotation)
    if any(_is_token_dependency(item) for item in metadata):
        return parameter.replace(annotation=Annotated[annotation, check])
    if _is_token_dependency(parameter.default):
        return parameter.replace(default=check)
    return parameter


def _split(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    """`Annotated[T, *metadata]` as (T, metadata); anything else as (it, ())."""
    if get_origin(annotation) is Annotated:
        bare, *metadata = get_args(annotation)
        return bare, tuple(metadata)
    return annotation, ()


def _is_token_dependency(value: object) -> bool:
    return isinstance(value, DependsParam) and value.dependency is get_token_data


def _refuse_token_from_the_request(
    endpoint: Callable[..., Any], signature: inspect.Signature
) -> None:
    """A `TokenData` parameter without `Depends(get_token_data)` would be read from the request
    body: a client could simply send the identity and roles it wants."""
    for parameter in signature.parameters.values():
        annotation, _ = _split(parameter.annotation)
        if annotation is not TokenData:
            continue
        if not _asks_for_token(parameter):
            raise TypeError(
                f"{endpoint.__qualname__}: parameter {parameter.name!r} is a TokenData that "
                "FastAPI would read from the request; declare it as CurrentToken"
            )
