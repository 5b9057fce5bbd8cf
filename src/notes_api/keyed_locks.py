"""In-process locks by name, so that requests queue in memory rather than on the database.

A PostgreSQL advisory lock makes a count exact across processes, but each
request waiting for it holds a pooled connection while it waits: a few hundred
simultaneous requests for one lock would take the whole pool from everyone
else, and time out on it. Taking an in-process lock of the same name first
means at most one connection per process waits on each advisory lock; the
others wait here, holding nothing. The advisory lock stays the guarantee; this
only orders who asks for it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_locks: weakref.WeakValueDictionary[tuple[int, str], asyncio.Lock] = weakref.WeakValueDictionary()


@asynccontextmanager
async def held(name: str) -> AsyncIterator[None]:
    """Hold this process's lock called `name` (per event loop: test clients run several).
    A lock nobody holds or waits for is forgotten."""
    key = (id(asyncio.get_running_loop()), name)
    lock = _locks.get(key)
    if lock is None:
        lock = _locks[key] = asyncio.Lock()
    async with lock:
        yield
