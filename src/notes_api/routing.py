"""Routes that turn away a path outside their literal prefix before running their matcher.

FastAPI's router tries the routes in order until one matches, and trying one costs
about 10,000 instructions (FastAPI's and Starlette's `matches`, the path's regular
expression). GET /notes/{note_id} is the 21st of the app's 49 routes: trying the 20
before it was a tenth of its work, and the routes further down paid more
(docs/performance.md, "One note, counted in instructions"). A path that does not begin
with a route's literal prefix, its path up to the first `{`, cannot match the route, so
the route answers NONE after one `startswith`. Nothing else changes: the routes are tried
in the same order, so the same one wins, and a route whose path matches but not its
method still makes the answer a 405.

The prefix is the route's own path, as `add_routes` (main.py) puts it in the app. A route
reached through `include_router(prefix=...)` would be matched by FastAPI against the
prefixed path and must not be of this class. Behind a proxy that sets a root path
(`uvicorn --root-path`), the path to match is what follows the root path; the check is
then left to Starlette, which strips it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

UNKNOWN_USER: dict[int | str, dict[str, Any]] = {404: {"description": "No such user"}}
"""The OpenAPI description of the 404 of a route that takes a user id in its path."""

_NO_MATCH = Match.NONE
"""Looked up once: on Python 3.11 reading an enum member off its class costs a descriptor
call, as much as the check below."""


class PrefixCheckedRoute(APIRoute):
    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.literal_prefix = path.partition("{")[0]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["path"].startswith(self.literal_prefix) or scope.get("root_path"):
            return super().matches(scope)
        return _NO_MATCH, {}


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route serves at the scope's path, for a 405's `Allow` (RFC 9110,
    section 15.5.6: the target resource's methods, not one route's).

    Starlette's router raises the 405 of the first route whose path matched, and that
    route's methods are one method of a resource that may have several (GET and DELETE of
    /account/sessions are two routes). Empty when no route of a fixed method set matched:
    a mount's 405 (the static files') already names its own."""
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.methods and route.matches(scope)[0] != _NO_MATCH:
            methods |= route.methods
    return sorted(methods)
