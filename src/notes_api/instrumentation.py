"""Feeding the metrics from a running app: one observation per request, and a sampler.

Requests are counted by the access log middleware, which already times every
answer: `observe_request` is called once per request with what it measured.
The route label is the matched route's template, read from the scope after the
router has run (`/notes/{note_id}`, a mount's `/static/{path}`); a request that
matched nothing is `unmatched`, and a method outside HTTP's usual ones is
`other`, so no label value ever comes from the client.

Gauges of state that changes all the time (the pool, the revocation set, the
process) are sampled once a second by each worker, and by the worker that
serves a scrape just before it answers: a gauge moved on every checkout would
cost every request a write, and in multiprocess mode a callback gauge cannot
work (the scraping worker cannot call into the others).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import weakref
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client.metrics import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.routing import BaseRoute, Mount
from starlette.types import Scope

from notes_api import metrics, metrics_files
from notes_api.database import Reader

SAMPLE_SECONDS = 1.0
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
"""Labelled children by (method, route, status): `labels()` locks and builds a key per call."""


_mount_templates: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
"""A mounted app -> its mount's template (`/static/{path}`). FastAPI's router does not put
a matched mount in `scope["route"]`, only the mounted app in `scope["endpoint"]`."""


def remember_mounts(routes: Iterable[BaseRoute]) -> None:
    for route in routes:
        if isinstance(route, Mount):
            _mount_templates[route.app] = route.path_format


def route_label(scope: Scope) -> str:
    template = getattr(scope.get("route"), "path_format", None)
    if isinstance(template, str):
        return template
    endpoint = scope.get("endpoint")
    if endpoint is not None:
        with contextlib.suppress(TypeError):  # not weakly referenceable: not a mount
            return _mount_templates.get(endpoint, metrics.UNMATCHED_ROUTE)
    return metrics.UNMATCHED_ROUTE


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    method = scope["method"]
    if method not in metrics.KNOWN_METHODS:
        method = metrics.OTHER_METHOD
    key = (method, route_label(scope), status)
    series = _series.get(key)
    if series is None:
        series = _series[key] = (
            metrics.http_requests.labels(method=key[0], route=key[1], status=str(status)),
            metrics.http_request_duration.labels(method=key[0], route=key[1]),
        )
    series[0].inc()
    series[1].observe(seconds)


class Sampler:
    """Sets this worker's sampled gauges from its pool, gate, revocation set and process."""

    def __init__(self, engine: AsyncEngine, reader: Reader) -> None:
        self.engine = engine
        self.reader = reader
        self.multiprocess = metrics_files.multiprocess_directory() is not None

    def sample(self) -> None:
        """The engine's pool and the read path's own connections, counted together: the
        gauges are what the worker holds on the database."""
        pool = self.engine.sync_engine.pool  # read each time: dispose() replaces it
        in_use, idle, most = self.reader.own_connections()
        if isinstance(pool, QueuePool):  # PostgreSQL, SQLite files (not :memory:)
            in_use, idle = in_use + pool.checkedout(), idle + pool.checkedin()
            most += pool.size() + max(pool._max_overflow, 0)
        metrics.db_pool_connections.labels(state="in_use").set(in_use)
        metrics.db_pool_connections.labels(state="idle").set(idle)
        metrics.db_pool_max_connections.set(most)
        metrics.db_pool_connections.labels(state="waiting").set(self.reader.gate.waiting)
        probe = metrics.revocation_probe()
        if probe is not None:
            probe.entries_gauge.set(probe.entries())
            probe.listener_up_gauge.set(1 if probe.is_current() else 0)
        if self.multiprocess:  # one process: the client's own process collector does this
            metrics.process_cpu_seconds.set(time.process_time())
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open("/proc/self/statm", "rb") as statm:
                    resident_pages = int(statm.read().split()[1])
                metrics.process_resident_memory.set(resident_pages * _PAGE_SIZE)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Sample every `SAMPLE_SECONDS` while the app runs; at its end, leave the sums."""
        task = asyncio.create_task(self._loop(), name="metrics-sampler")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            metrics_files.mark_this_worker_dead()

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_SECONDS)
