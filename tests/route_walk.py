"""Walking the app's routes and their dependencies, for tests that check every route at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts


def api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Each API route with its full path (prefixes included)."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            yield context.path or "", route


def dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any] | None]:
    """Every dependency a route resolves, sub-dependencies included."""
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from dependency_calls(dependency)
