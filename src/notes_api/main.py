"""Application factory: settings in, a fully wired FastAPI app out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import lru_cache

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from notes_api import __version__, observability
from notes_api.auth.authorize import required_roles
from notes_api.auth.router import OAuthError, oauth_error_handler
from notes_api.auth.router import router as auth_router
from notes_api.auth.service import RefreshPolicy
from notes_api.auth.tokens import AccessTokenCodec
from notes_api.config import Settings, get_settings
from notes_api.database import create_app_engine, create_session_factory
from notes_api.errors import install_error_handlers
from notes_api.health import router as health_router
from notes_api.users.router import router as users_router

PUBLIC_PATHS = frozenset(
    {
        "/token",
        "/token/revoke",
        "/signup",
        "/healthz",
        "/readyz",
        "/",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
    }
)
"""Routes anyone may call. Every other route must be guarded by @authorize or @authenticated."""


class UnprotectedRouteError(RuntimeError):
    """A route is neither guarded nor public: usually @authorize placed above @router.get."""


def check_routes_are_protected(routes: Sequence[BaseRoute]) -> None:
    """Refuse to build an app with a route that is neither guarded nor public.

    `iter_route_contexts` flattens included routers (FastAPI >= 0.137 keeps them
    as tree nodes in `app.routes`).
    """
    for context in iter_route_contexts(routes):
        path = context.path or ""
        if path in PUBLIC_PATHS:
            continue
        route = context.original_route
        if isinstance(route, APIRoute) and required_roles(route.endpoint) is not None:
            continue
        raise UnprotectedRouteError(
            f"Route {path!r} is neither guarded by @authorize (directly under the route "
            "decorator) nor listed in PUBLIC_PATHS"
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    observability.configure_logging(settings.log_level, settings.log_format)
    engine = create_app_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(
        title="notes-api",
        version=__version__,
        summary="Notes behind JWT access tokens, with roles kept as database rows.",
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        swagger_ui_oauth2_redirect_url="/docs/oauth2-redirect",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = create_session_factory(engine)
    app.state.token_codec = AccessTokenCodec(
        key=settings.signing_key(),
        algorithm=settings.jwt_algorithm,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        lifetime=timedelta(minutes=settings.access_token_expire_minutes),
    )
    app.state.refresh_policy = RefreshPolicy(
        lifetime=timedelta(minutes=settings.refresh_token_expire_minutes),
        family_lifetime=timedelta(minutes=settings.refresh_family_lifetime_minutes),
    )

    install_error_handlers(app)
    app.add_exception_handler(OAuthError, oauth_error_handler)
    for router in (health_router, auth_router, users_router):
        app.include_router(router)

    # Added last, so outermost: it times and logs every answer, other middlewares' too.
    app.add_middleware(observability.AccessLogMiddleware)
    check_routes_are_protected(app.routes)
    return app


@lru_cache(maxsize=1)
def _default_app() -> FastAPI:
    return create_app()


def __getattr__(name: str) -> FastAPI:
    """`notes_api.main:app` for uvicorn, built on first access: importing this module
    (tests, tools) reads no settings and touches no files."""
    if name == "app":
        return _default_app()
    raise AttributeError(name)
