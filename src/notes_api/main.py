"""Application factory: settings in, a fully wired FastAPI app out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import lru_cache

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from notes_api import __version__, observability
from notes_api.audit.router import router as audit_router
from notes_api.auth.authorize import required_roles
from notes_api.auth.revocation_cache import RevocationCache
from notes_api.auth.router import TOKEN_REQUEST_ERRORS, OAuthError, oauth_error_handler
from notes_api.auth.router import router as auth_router
from notes_api.auth.service import RefreshPolicy
from notes_api.auth.throttle import ThrottlePolicy
from notes_api.auth.tokens import AccessTokenCodec
from notes_api.body_limit import BodySizeLimitMiddleware
from notes_api.config import Settings, get_settings
from notes_api.database import Reader, create_app_engine, create_session_factory, pool_gate
from notes_api.docs import install_docs
from notes_api.errors import install_error_handlers
from notes_api.health import router as health_router
from notes_api.notes.router import router as notes_router
from notes_api.security_headers import SecurityHeadersMiddleware
from notes_api.sessions.revocation_feed import cache_window, revocation_feed, running_feed
from notes_api.users.router import router as users_router
from notes_api.web import install_web

PUBLIC_PATHS = frozenset(
    {
        "/token",
        "/token/revoke",
        "/signup",
        "/healthz",
        "/readyz",
        "/",
        "/static",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/docs/assets",
    }
)
"""Routes anyone may call. Every other route must be guarded by @authorize or @authenticated.
`/static` and `/docs/assets` are mounts of static files (the web page's and the docs' assets)."""


class UnprotectedRouteError(RuntimeError):
    """A route is neither guarded nor public: usually @authorize placed above @router.get."""


UNAUTHENTICATED_RESPONSE = {"description": "Missing, invalid or expired access token"}
FORBIDDEN_RESPONSE = {"description": "The access token lacks every required role"}


def check_routes_are_protected(routes: Sequence[BaseRoute]) -> None:
    """Refuse to build an app with a route that is neither guarded nor public, and
    document the 401 (and 403) answers of every guarded route in OpenAPI.

    `iter_route_contexts` flattens included routers (FastAPI >= 0.137 keeps them
    as tree nodes in `app.routes`).
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
            continue
        raise UnprotectedRouteError(
            f"Route {path!r} is neither guarded by @authorize (directly under the route "
            "decorator) nor listed in PUBLIC_PATHS"
        )


def install_cors(app: FastAPI, origins: list[str]) -> None:
    """Browsers on the listed origins may call the API with a bearer token.

    Credentials (cookies) are not allowed: the API authenticates with the
    `Authorization` header only, so no origin ever gets cookie access.
    """
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials=False,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["Location", "Retry-After", "X-Request-ID"],
        max_age=600,
    )


def add_routes(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Put every router's routes in `app.routes` itself, as `@app.get` would.

    Since FastAPI 0.137, `include_router` keeps an included router as one opaque
    node in `app.routes`, so anything that enumerates `app.routes` (a route audit,
    instrumentation, an outside checker) would see no paths at all. These routers
    carry no prefix, tags or dependencies of their own, so their routes need no
    include context and can be added as they are.
    """
    for router in routers:
        app.router.routes.extend(router.routes)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    observability.configure_logging(settings.log_level, settings.log_format)
    engine = create_app_engine(settings.database_url)
    access_lifetime = timedelta(minutes=settings.access_token_expire_minutes)
    revocations = RevocationCache(window_seconds=cache_window(access_lifetime))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        feed = revocation_feed(revocations, settings.database_url, settings.database_listen_url)
        async with running_feed(feed):
            yield
        await engine.dispose()

    app = FastAPI(
        title="notes-api",
        version=__version__,
        summary="Notes behind JWT access tokens, with roles kept as database rows.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from install_docs: self-hosted assets, no CDN
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        swagger_ui_oauth2_redirect_url="/docs/oauth2-redirect",
        # No 307 to an absolute URL built from the Host header (and to http:// behind a
        # TLS proxy): a trailing slash is simply a path that does not exist.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = create_session_factory(engine)
    app.state.pool_gate = pool_gate(engine)
    app.state.reader = Reader(engine, app.state.pool_gate)
    app.state.token_codec = AccessTokenCodec(
        key=settings.signing_key(),
        algorithm=settings.jwt_algorithm,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        lifetime=access_lifetime,
    )
    app.state.revocations = revocations
    app.state.throttle_policy = ThrottlePolicy(
        max_failures_per_user=settings.login_max_failures_per_user,
        max_failures_per_address=settings.login_max_failures_per_address,
        window=timedelta(minutes=settings.login_failure_window_minutes),
    )
    app.state.refresh_policy = RefreshPolicy(
        lifetime=timedelta(minutes=settings.refresh_token_expire_minutes),
        family_lifetime=timedelta(minutes=settings.refresh_family_lifetime_minutes),
    )

    app.add_middleware(BodySizeLimitMiddleware)
    if settings.cors_origins:  # outside the body limit, so that a 413 carries CORS headers too
        install_cors(app, settings.cors_origins)
    app.add_middleware(SecurityHeadersMiddleware)  # outside CORS: preflights get the headers too
    install_error_handlers(app, TOKEN_REQUEST_ERRORS)
    app.add_exception_handler(OAuthError, oauth_error_handler)
    add_routes(app, [health_router, auth_router, users_router, notes_router, audit_router])
    if settings.docs_enabled:
        install_docs(app)
    install_web(app)

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
