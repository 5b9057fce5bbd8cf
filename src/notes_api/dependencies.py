"""Dependency providers: the one place routes reach the application's state.

Each provider is `async def` although it awaits nothing: FastAPI runs a plain
`def` dependency in the thread pool, a hop per request that cost more than
the work these do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from notes_api.auth.tokens import AccessTokenCodec
from notes_api.config import Settings
from notes_api.database import Reader
from notes_api.instrumentation import Sampler
from notes_api.policies import RefreshPolicy, ThrottlePolicy
from notes_api.state import AppState


def app_state(request: Request) -> AppState:
    return cast(AppState, request.app.state)


async def get_settings(request: Request) -> Settings:
    return app_state(request).settings


async def get_engine(request: Request) -> AsyncEngine:
    return app_state(request).engine


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; services commit explicitly, anything else is rolled back."""
    async with app_state(request).session_factory() as session:
        yield session


async def get_reader(request: Request) -> Reader:
    return app_state(request).reader


async def get_token_codec(request: Request) -> AccessTokenCodec:
    return app_state(request).token_codec


async def get_refresh_policy(request: Request) -> RefreshPolicy:
    return app_state(request).refresh_policy


async def get_throttle_policy(request: Request) -> ThrottlePolicy:
    return app_state(request).throttle_policy


async def get_sampler(request: Request) -> Sampler:
    return app_state(request).sampler


def _nothing() -> None:
    return None


async def get_mail_waker(request: Request) -> Callable[[], None]:
    """Wakes this process's mail sender after a request queued a mail."""
    sender = app_state(request).mail_sender
    return sender.wake if sender is not None else _nothing


AppSettings = Annotated[Settings, Depends(get_settings)]
Engine = Annotated[AsyncEngine, Depends(get_engine)]
DbSession = Annotated[AsyncSession, Depends(get_db)]
ReadDb = Annotated[Reader, Depends(get_reader)]
Codec = Annotated[AccessTokenCodec, Depends(get_token_codec)]
Refresh = Annotated[RefreshPolicy, Depends(get_refresh_policy)]
Throttle = Annotated[ThrottlePolicy, Depends(get_throttle_policy)]
MetricsSampler = Annotated[Sampler, Depends(get_sampler)]
MailWaker = Annotated[Callable[[], None], Depends(get_mail_waker)]
