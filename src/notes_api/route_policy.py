"""Which routes anyone may call, and the check that every other one is guarded.

`create_app` runs `guard_and_document_routes` on the finished app: it refuses
to build an app with a route that is neither guarded (`@authorize`,
`@authenticated`) nor public, and documents the 401 (and 403) answers of every
guarded route in OpenAPI, where the guard gives them.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from notes_api.auth.authorize import required_roles
from notes_api.auth.dependencies import is_account_path

PUBLIC_PATHS = frozenset(
    {
        "/token",
        "/token/revoke",
        "/signup",
        "/account/password/forgot",
        "/account/password/reset",
        "/healthz",
        "/readyz",
        "/",
        "/static",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/docs/assets",
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
    }
)
"""Routes anyone may call. Every other route must be guarded by @authorize or @authenticated.
`/static` and `/docs/assets` are mounts of static files (the web page's and the docs' assets)."""

UNAUTHENTICATED_RESPONSE = {"description": "Missing, invalid or expired access token"}
FORBIDDEN_RESPONSE = {"description": "The access token lacks every required role"}
PERSONAL_TOKEN_REFUSED_RESPONSE = {
    "description": "A personal access token cannot use /account: log in instead"
}


class UnprotectedRouteError(RuntimeError):
    """A route is neither guarded nor public: usually @authorize placed above @router.get."""


def guard_and_document_routes(routes: Sequence[BaseRoute]) -> None:
    """Refuse a route that is neither guarded nor public; add the 401 (and, when roles are
    required, 403) responses to every guarded route's OpenAPI description, and the 403 of a
    personal access token to every guarded `/account` route (the bearer dependency refuses
    them by path, so the routes cannot forget it, nor should their description).

    `iter_route_contexts` also walks into included routers and mounts.
    """
    for context in iter_route_contexts(routes):
        path = context.path or ""
        if path in PUBLIC_PATHS:
            continue
        route = context.original_route
        roles = required_roles(route.endpoint) if isinstance(route, APIRoute) else None
        if isinstance(route, APIRoute) and roles is not None:
            route.responses.setdefault(401, UNAUTHENTICATED_RESPONSE)
            if roles:
                route.responses.setdefault(403, FORBIDDEN_RESPONSE)
            if is_account_path(path):
                route.responses.setdefault(403, PERSONAL_TOKEN_REFUSED_RESPONSE)
            continue
        raise UnprotectedRouteError(
            f"Route {path!r} is neither guarded by @authorize (directly under the route "
            "decorator) nor listed in PUBLIC_PATHS"
        )
