"""`@authorize(roles="user,admin")`: role checks on the decoded access token.

Modelled on Starlette's `requires`: the decorated function is inspected once,
misuse raises immediately, and the wrapper keeps the endpoint's nature (an
`async def` stays a coroutine on the event loop, a `def` keeps running in the
thread pool, because FastAPI decides by unwrapping `__wrapped__`).

If the endpoint does not declare a `TokenData` parameter, the wrapper's
`__signature__` gains a keyword-only `CurrentToken` one, so FastAPI injects
the token anyway. FastAPI caches `get_token_data` per request, so a token is
decoded once however many parameters ask for it.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar, cast, get_args, get_origin

from fastapi import HTTPException, status
from fastapi.params import Depends as DependsParam

from notes_api.auth.dependencies import CurrentToken, get_token_data
from notes_api.auth.tokens import TokenData, split_roles
from notes_api.validation import ROLE_NAME_PATTERN

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

REQUIRED_ROLES_ATTRIBUTE = "__authorize_roles__"
_INJECTED_PARAMETER = "_authorize_token"
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


def _is_token_parameter(parameter: inspect.Parameter) -> bool:
    annotation = parameter.annotation
    if annotation is TokenData or annotation == "TokenData":
        return True
    if get_origin(annotation) is Annotated and get_args(annotation)[0] is TokenData:
        return True
    default = parameter.default
    return isinstance(default, DependsParam) and default.dependency is get_token_data


def authorize(roles: str | Iterable[str]) -> Callable[[Endpoint], Endpoint]:
    """Let through callers whose access token carries at least one of `roles`."""
    required = parse_roles(roles)

    def check(token: TokenData) -> None:
        if required.isdisjoint(token.roles):
            raise forbidden(required)

    return lambda endpoint: _guard(endpoint, check, required)


def authenticated(endpoint: Endpoint) -> Endpoint:
    """Let through any caller with a valid access token, whatever its roles (even none)."""
    return _guard(endpoint, lambda _token: None, frozenset())


def _guard(
    endpoint: Endpoint, check: Callable[[TokenData], None], required: frozenset[str]
) -> Endpoint:
    if required_roles(endpoint) is not None:
        raise TypeError(f"{endpoint.__qualname__} is already guarded")
    signature = inspect.signature(endpoint, eval_str=True)
    declared = next((p.name for p in signature.parameters.values() if _is_token_parameter(p)), None)
    token_name = declared or _INJECTED_PARAMETER
    if declared is None:
        injected = inspect.Parameter(
            _INJECTED_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=CurrentToken
        )
        signature = signature.replace(parameters=[*signature.parameters.values(), injected])

    def checked(kwargs: dict[str, Any]) -> dict[str, Any]:
        token = kwargs[token_name] if declared else kwargs.pop(token_name)
        check(token)
        return kwargs

    wrapper: Callable[..., Any]
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await endpoint(*args, **checked(kwargs))

        wrapper = async_wrapper
    else:

        @functools.wraps(endpoint)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            return endpoint(*args, **checked(kwargs))

        wrapper = sync_wrapper

    guarded: Any = wrapper
    guarded.__signature__ = signature
    setattr(guarded, REQUIRED_ROLES_ATTRIBUTE, required)
    return cast(Endpoint, guarded)
