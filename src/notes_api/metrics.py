"""The Prometheus metrics: their names, their labels, and the calls that move them.

Every metric is defined here, so that `docs/operations.md`, the dashboard and
this file can be read side by side. Label values are fixed sets chosen by the
code (a route's template, an outcome, a cause), never anything a client sent:
a label carrying raw paths or usernames would let any caller create series
without bound.

With several worker processes, prometheus-client's multiprocess mode keeps
each worker's values in files under `PROMETHEUS_MULTIPROC_DIR` (set by
`notes-api serve`), and one scrape adds them up. Gauges say how: `livesum`
(pool, hashing) adds the live workers' values, `liveall` (each worker's own
copy of the revocation set, its CPU and memory) keeps one series per worker,
labelled `pid`. Either way a dead worker's gauges disappear while its
counters keep counting in the totals.

Pure: no FastAPI, no database, so services at any layer may record.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

NAMESPACE = "notes_api"
UNMATCHED_ROUTE = "unmatched"
"""The `route` label of a request no route matched (404s, preflights, early refusals)."""
OTHER_METHOD = "other"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
"""Seconds. Finer than the client's defaults at the low end: most answers take 1 to 5 ms."""


if _directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # In multiprocess mode the client opens its files as each metric below is defined: an
    # operator's directory that does not exist yet would fail the import (`notes-api serve`
    # imports this before it prepares the directory).
    os.makedirs(_directory, exist_ok=True)

disable_created_metrics()  # type: ignore[no-untyped-call]
# `_created` series exist in one process only: scrapes look the same


class LoginOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    THROTTLED = "throttled"
    MFA_REQUIRED = "mfa_required"


http_requests = Counter(
    "http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
    namespace=NAMESPACE,
)
http_request_duration = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    namespace=NAMESPACE,
    buckets=LATENCY_BUCKETS,
)
logins = Counter(
    "logins",
    "Password logins at POST /token, by outcome.",
    ["outcome"],
    namespace=NAMESPACE,
)
refresh_reuse = Counter(
    "refresh_reuse",
    "Refresh tokens presented again after they were spent (their session is ended).",
    namespace=NAMESPACE,
)
sessions_ended = Counter(
    "sessions_ended",
    "Sessions ended, by cause.",
    ["cause"],
    namespace=NAMESPACE,
)
db_pool_connections = Gauge(
    "db_pool_connections",
    "Database connections of the workers' pools: in_use, idle, and waiting "
    "(reads queued for a connection).",
    ["state"],
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
db_pool_max_connections = Gauge(
    "db_pool_max_connections",
    "How many connections the workers' pools may open in all.",
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
password_hashes_queued = Gauge(
    "password_hashes_queued",
    "Password hashes and verifications waiting for a hashing thread.",
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
password_hashes_running = Gauge(
    "password_hashes_running",
    "Password hashes and verifications being computed now (at most one per CPU per worker).",
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
# Named as the client's own process collector names them, which multiprocess mode cannot
# use (it would report the scraping worker alone). Not registered: in one process the
# process collector already exports these names.
process_cpu_seconds = Gauge(
    "process_cpu_seconds_total",
    "CPU time (user and system) this worker has used, in seconds.",
    registry=None,
    multiprocess_mode="liveall",
)
process_resident_memory = Gauge(
    "process_resident_memory_bytes",
    "Resident memory of this worker, in bytes.",
    registry=None,
    multiprocess_mode="liveall",
)

for _outcome in LoginOutcome:
    logins.labels(outcome=_outcome.value)  # every outcome has a series from the start


def record_login(outcome: LoginOutcome) -> None:
    logins.labels(outcome=outcome.value).inc()


def record_refresh_reuse() -> None:
    refresh_reuse.inc()


def record_session_ended(cause: str, count: int = 1) -> None:
    """Count `count` sessions ended for `cause`: a fixed name from the code (an `EndCause`)."""
    if count > 0:
        sessions_ended.labels(cause=cause).inc(count)


@dataclass(frozen=True)
class RevocationProbe:
    entries: Callable[[], int]
    is_current: Callable[[], bool]
    entries_gauge: Gauge
    listener_up_gauge: Gauge


_revocation_probe: RevocationProbe | None = None
_revocation_gauges: tuple[Gauge, Gauge] | None = None
_probe_lock = threading.Lock()


def _new_revocation_gauges() -> tuple[Gauge, Gauge]:
    entries = Gauge(
        "revocation_entries",
        "Entries in this worker's revocation set (ended sessions and per-user cut-offs).",
        namespace=NAMESPACE,
        multiprocess_mode="liveall",
    )
    listener_up = Gauge(
        "revocation_listener_up",
        "1 while this worker's revocation set is known to be current, 0 while it is not "
        "(access tokens are then refused with 503).",
        namespace=NAMESPACE,
        multiprocess_mode="liveall",
    )
    return entries, listener_up


def watch_revocation_set(entries: Callable[[], int], is_current: Callable[[], bool]) -> None:
    """Report this worker's revocation set: its size and whether its listener keeps it current.

    Called once by whatever builds the set (the latest call wins: one set per worker).
    The callables are read every second by the sampler, on the event loop: they must be
    cheap and must not block. The two gauges exist from the first call on, so a
    build without the set never reports a listener that is down.
    """
    global _revocation_probe, _revocation_gauges
    with _probe_lock:
        if _revocation_gauges is None:
            _revocation_gauges = _new_revocation_gauges()
        _revocation_probe = RevocationProbe(entries, is_current, *_revocation_gauges)


def revocation_probe() -> RevocationProbe | None:
    return _revocation_probe
