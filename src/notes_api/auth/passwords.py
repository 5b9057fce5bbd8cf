"""Password hashing through libpass (the maintained passlib fork).

New hashes are argon2id with OWASP's recommended parameters (19 MiB, 2
iterations, 1 lane: about 30 ms of CPU here). bcrypt hashes from older
deployments still verify and are upgraded on the next successful login.

These functions are CPU-bound and synchronous on purpose: callers in async code
run them through `in_hashing_thread`, which bounds how many run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from typing import Any, TypeVar, TypeVarTuple

from passlib.context import CryptContext

from notes_api import metrics

ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_ITERATIONS = 2
ARGON2_LANES = 1

password_context = CryptContext(
    schemes=["argon2", "bcrypt"],
    deprecated="auto",
    argon2__type="ID",
    argon2__memory_cost=ARGON2_MEMORY_KIB,
    argon2__rounds=ARGON2_ITERATIONS,
    argon2__parallelism=ARGON2_LANES,
)


def hash_password(password: str) -> str:
    hashed: str = password_context.hash(password)
    return hashed


def verify_password(password: str, hashed: str) -> tuple[bool, str | None]:
    """Check a password; on success also return a new hash when the stored one is outdated.

    A password that the stored hash cannot take (bcrypt 5 raises for more than
    72 bytes) or a hash this context does not recognise is a plain mismatch,
    never an error the client could turn into a 500.
    """
    try:
        valid, new_hash = password_context.verify_and_update(password, hashed)
    except (ValueError, TypeError):
        return False, None
    return bool(valid), new_hash


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("dummy password that no account has")


def burn_verification(password: str) -> None:
    """Spend what one real verification costs, so an unknown username answers as slowly
    as a wrong password and login timing reveals nothing about which accounts exist."""
    verify_password(password, _dummy_hash())


HASHING_THREADS = os.cpu_count() or 1
"""Password hashes computed at once: one per CPU.

argon2 releases the GIL, so these threads run in parallel with the event loop.
More of them than CPUs add no throughput (each needs a core for ~30 ms) and
make things worse: with anyio's default of 40 threads, 40 logins would each
hold 19 MiB and evict one another from the CPU caches, and the event loop
would get a 1/40th share of the CPU. Logins past this wait their turn.
"""
HASHING_NICENESS = 10
"""How much lower than the event loop the hashing threads are scheduled (Linux nice).

The event loop thread serves every other request; a hash is 30 ms of pure CPU
that can wait a few milliseconds. At nice 10 the kernel weighs a hashing
thread at about a tenth of a normal one, so when the event loop (or
PostgreSQL) wants a core it gets it, and when nothing else runs the hashes
still take all the CPUs. Hashes are not made cheaper: logins only yield.
"""
_Result = TypeVar("_Result")
_Args = TypeVarTuple("_Args")


def _lower_priority() -> None:
    """Thread initializer: lower this thread's own scheduling priority (Linux, per thread)."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


_executor = ThreadPoolExecutor(
    max_workers=HASHING_THREADS, thread_name_prefix="password-hashing", initializer=_lower_priority
)


async def in_hashing_thread(function: Callable[[*_Args], _Result], *args: *_Args) -> _Result:
    """Run a hash or verification on a low-priority hashing thread, `HASHING_THREADS` at once.

    The executor's queue is first come, first served; its threads start on
    first use, so importing this module (the CLI, tests) starts none. The
    queue's length and the hashes running are gauges (`metrics`).
    """
    metrics.password_hashes_queued.inc()
    future = _executor.submit(_counted, functools.partial(function, *args))
    future.add_done_callback(_uncount_if_cancelled)
    return await asyncio.wrap_future(future)


def _counted(call: Callable[[], _Result]) -> _Result:
    metrics.password_hashes_queued.dec()
    metrics.password_hashes_running.inc()
    try:
        return call()
    finally:
        metrics.password_hashes_running.dec()


def _uncount_if_cancelled(future: Future[Any]) -> None:
    """A login cancelled (client gone) before its turn leaves the queue without running."""
    if future.cancelled():
        metrics.password_hashes_queued.dec()
