"""The application's state: one typed object, built from `Settings` by `create_app`.

It is Starlette's `app.state` itself (a `State` subclass with declared
attributes), so every request reaches it as `request.app.state`, and the
providers in `dependencies` read it with types instead of `Any`.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.datastructures import State

from notes_api import metrics
from notes_api.auth.dependencies import BearerVerification
from notes_api.auth.keys import signing_material
from notes_api.auth.personal_tokens import PersonalTokenVerifier
from notes_api.auth.revocation_cache import RevocationCache, cache_window
from notes_api.auth.tokens import AccessTokenCodec
from notes_api.config import Settings
from notes_api.database import (
    EngineReader,
    PoolGate,
    Reader,
    create_app_engine,
    create_session_factory,
    pool_gate,
)
from notes_api.driver_reads import DriverReader
from notes_api.instrumentation import Sampler
from notes_api.mail.sender import MailSender
from notes_api.policies import RefreshPolicy, ThrottlePolicy


class AppState(State):
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    pool_gate: PoolGate
    reader: Reader
    token_codec: AccessTokenCodec
    revocations: RevocationCache
    throttle_policy: ThrottlePolicy
    refresh_policy: RefreshPolicy
    sampler: Sampler
    personal_tokens: PersonalTokenVerifier
    """Set by `create_app`: checking a personal token needs the users' tables, which the
    identity core (and so this module, which it imports) does not import."""
    mail_sender: MailSender | None
    """None in production without SMTP_URL: nothing can be mailed there."""
    mfa_required_roles: frozenset[str]


_provides_bearer_verification: type[BearerVerification] = AppState  # checked by mypy


CONNECTIONS_PER_WORKER = 20
"""What a worker's two pools may open on PostgreSQL in all; its revocation listener holds
one more (docs/deploy.md: the connection budget, 21 per worker)."""
READ_POOL_SIZE = 10
"""Of those, the read path's own (as many as the reference app uses; more only queue in
PostgreSQL for the same cores); the engine keeps the rest for sessions and writes."""


def build_reader(engine: AsyncEngine) -> Reader:
    """Reads on psycopg itself on PostgreSQL, behind a gate of `READ_POOL_SIZE` permits;
    through the engine on SQLite, whose gate admits everyone."""
    if engine.dialect.name == "postgresql":
        return DriverReader(engine, PoolGate(READ_POOL_SIZE))
    return EngineReader(engine, pool_gate(engine))


def build_state(settings: Settings) -> AppState:
    engine = create_app_engine(
        settings.database_url, pool_size=CONNECTIONS_PER_WORKER - READ_POOL_SIZE
    )
    reader = build_reader(engine)
    state = AppState()
    state.settings = settings
    state.engine = engine
    state.session_factory = create_session_factory(engine)
    state.pool_gate = reader.gate  # the gate the reads pass
    state.reader = reader
    access_lifetime = timedelta(minutes=settings.access_token_expire_minutes)
    state.token_codec = AccessTokenCodec(
        key=signing_material(settings),
        algorithm=settings.jwt_algorithm,
        issuer=settings.token_issuer,
        audience=settings.jwt_audience,
        lifetime=access_lifetime,
    )
    state.revocations = RevocationCache(window_seconds=cache_window(access_lifetime))
    metrics.watch_revocation_set(
        entries=state.revocations.__len__, is_current=state.revocations.is_current
    )
    state.throttle_policy = ThrottlePolicy(
        max_failures_per_user=settings.login_max_failures_per_user,
        max_failures_per_address=settings.login_max_failures_per_address,
        max_in_flight_per_address=settings.login_max_in_flight_per_address,
        window=timedelta(minutes=settings.login_failure_window_minutes),
    )
    state.refresh_policy = RefreshPolicy(
        lifetime=timedelta(minutes=settings.refresh_token_expire_minutes),
        family_lifetime=timedelta(minutes=settings.refresh_family_lifetime_minutes),
    )
    state.sampler = Sampler(engine, reader)
    state.mail_sender = None  # create_app sets it: mail renderers live in the domains
    state.mfa_required_roles = frozenset(settings.mfa_required_roles)
    return state
