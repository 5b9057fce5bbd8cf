"""Application factory: settings in, a fully wired FastAPI app out."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from notes_api import __version__, instrumentation, observability, tracing
from notes_api.accounts.recovery_router import router as recovery_router
from notes_api.accounts.reset import build_mail_sender
from notes_api.accounts.router import router as accounts_router
from notes_api.admin.router import router as admin_router
from notes_api.audit.router import router as audit_router
from notes_api.body_limit import BodySizeLimitMiddleware, document_body_limit
from notes_api.client_address import ClientAddressMiddleware
from notes_api.config import Settings, get_settings
from notes_api.discovery import router as discovery_router
from notes_api.docs import install_docs
from notes_api.error_boundary import ErrorBoundaryMiddleware
from notes_api.exception_handlers import install_error_handlers
from notes_api.health import router as health_router
from notes_api.metrics_endpoint import router as metrics_router
from notes_api.mfa.router import router as mfa_router
from notes_api.notes.router import router as notes_router
from notes_api.personal_tokens.router import router as personal_tokens_router
from notes_api.personal_tokens.service import PersonalTokens
from notes_api.route_policy import guard_and_document_routes
from notes_api.routing import PrefixCheckedRoute
from notes_api.security_headers import SecurityHeadersMiddleware
from notes_api.sessions.revocation_feed import revocation_feed, running_feed
from notes_api.sessions.router import TOKEN_PATHS
from notes_api.sessions.router import router as sessions_router
from notes_api.state import build_state
from notes_api.users.router import router as signup_router
from notes_api.web import install_web


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
        # WWW-Authenticate: a page on another origin tells a step-up challenge from an expiry.
        expose_headers=["Location", "Retry-After", "X-Request-ID", "WWW-Authenticate"],
        max_age=600,
    )


def add_routes(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Put every router's routes in `app.routes` itself, as `@app.get` would.

    `include_router` keeps an included router as one opaque node in `app.routes`,
    so anything that enumerates `app.routes` (a route audit, instrumentation, an
    outside checker) would see no paths at all. These routers
    carry no prefix, tags or dependencies of their own, so their routes need no
    include context and can be added as they are.
    """
    for router in routers:
        app.router.routes.extend(router.routes)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    observability.configure_logging(settings.log_level, settings.log_format)
    state = build_state(settings)
    state.personal_tokens = PersonalTokens(
        state.reader, state.engine, frozenset(settings.mfa_required_roles)
    )
    environ = tracing.environment()
    tracer_provider = (
        tracing.build_tracer_provider(environ) if tracing.tracing_requested(environ) else None
    )
    state.mail_sender = build_mail_sender(settings, state.session_factory)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        feed = revocation_feed(
            state.revocations, settings.database_url, settings.database_listen_url
        )
        async with running_feed(feed), state.sampler.running():
            if state.mail_sender is not None:
                state.mail_sender.start()  # in every server process: they share the outbox
            yield
            if state.mail_sender is not None:
                await state.mail_sender.stop()
        await state.reader.close()
        await state.engine.dispose()
        if tracer_provider is not None:  # sends what is queued, within the exporter's timeout
            await asyncio.to_thread(tracer_provider.shutdown)

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
    app.state = state
    app.router.route_class = PrefixCheckedRoute  # for the routes added below with @app.get

    app.add_middleware(BodySizeLimitMiddleware)
    # Inside CORS, security headers and the access log: its 500 gets all they add.
    app.add_middleware(ErrorBoundaryMiddleware)
    if settings.cors_origins:  # outside the body limit, so that a 413 carries CORS headers too
        install_cors(app, settings.cors_origins)
    # Canonical client addresses for everything inside; its 400 gets the headers below.
    app.add_middleware(ClientAddressMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)  # outside CORS: preflights get the headers too
    install_error_handlers(app, TOKEN_PATHS)
    routers = [
        health_router,
        sessions_router,
        admin_router,
        signup_router,
        notes_router,
        audit_router,
    ]
    add_routes(app, [*routers, metrics_router, discovery_router, personal_tokens_router])
    add_routes(app, [recovery_router, accounts_router, mfa_router])
    if settings.docs_enabled:
        install_docs(app)
    install_web(app)

    # Added last, so outermost: it times, counts and logs every answer, other middlewares' too.
    app.add_middleware(observability.AccessLogMiddleware, tracing_on=tracer_provider is not None)
    if tracer_provider is not None:  # outside even that, so the log line has the span's ids
        tracing.instrument(app, state.engine, state.reader, tracer_provider)
        if state.mail_sender is not None:
            state.mail_sender.untraced = tracing.untraced
    guard_and_document_routes(app.routes)
    document_body_limit(app.routes)
    instrumentation.remember_mounts(app.routes)
    return app


@lru_cache(maxsize=1)
def _default_app() -> FastAPI:
    """The served app. Everything built so far (the imported modules, the app, its routes)
    lives as long as the process, so it is moved out of the cyclic collector's sight: its
    full collections then scan only what requests leave behind, where they scanned ~140,000
    objects every second or two under load, pausing the event loop 30-300 ms each time (a
    request's worth of tail latency). Not in `create_app`: tests build many apps."""
    app = create_app()
    gc.freeze()
    return app


def __getattr__(name: str) -> FastAPI:
    """`notes_api.main:app` for uvicorn, built on first access: importing this module
    (tests, tools) reads no settings and touches no files."""
    if name == "app":
        return _default_app()
    raise AttributeError(name)
