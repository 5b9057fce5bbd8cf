"""prometheus-client's multiprocess mode: its directory, dead workers, and one scrape of all.

With several workers each one counts in its own memory-mapped files under
`PROMETHEUS_MULTIPROC_DIR`; a scrape, served by any one worker, reads every
worker's files and adds them up. The client's rules (its "Multiprocess Mode"
documentation), and how they are kept here:

- the variable must be set before the client is imported in a worker:
  `notes-api serve` sets it in the parent, before uvicorn spawns the workers;
- the directory must be emptied before the processes start, or the totals of
  an earlier run would be added again: `metrics_directory` does that at start;
- `mark_process_dead(pid)` must be called for a worker that died, or its live
  gauges (pool, hashing, revocation set) would stay in the sums: a worker
  marks itself when it stops, and every scrape marks the workers whose
  process no longer exists (killed, crashed: uvicorn has no exit hook, unlike
  gunicorn's `child_exit` that the documentation uses).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The text format every Prometheus version reads."""
_CLIENT_FILE = re.compile(r"(?:counter|histogram|summary|gauge_[a-z]+)_(\d+)\.db")
"""The files prometheus-client writes: a kind (and a gauge's mode), then the writer's pid.
Only these are ever deleted, so a mistaken directory loses nothing else."""
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def multiprocess_directory() -> Path | None:
    configured = os.environ.get(MULTIPROC_DIR_VARIABLE)
    return Path(configured) if configured else None


@contextmanager
def metrics_directory(workers: int) -> Iterator[Path | None]:
    """For `notes-api serve`: the multiprocess directory, emptied, for the workers to inherit.

    Used when there is more than one worker, or when the operator set
    `PROMETHEUS_MULTIPROC_DIR` (then that directory, which is kept). With more than
    one worker and no directory given, a private temporary one, removed at exit.
    """
    configured = multiprocess_directory()
    if configured is None and workers <= 1:
        yield None
        return
    directory = configured or Path(tempfile.mkdtemp(prefix="notes-api-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.iterdir():
        if _CLIENT_FILE.fullmatch(path.name):
            path.unlink(missing_ok=True)
    os.environ[MULTIPROC_DIR_VARIABLE] = str(directory)
    try:
        yield directory
    finally:
        if configured is None:
            del os.environ[MULTIPROC_DIR_VARIABLE]
            shutil.rmtree(directory, ignore_errors=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def mark_dead_workers(directory: Path) -> None:
    """Drop the live gauges of workers whose process is gone (their counters stay)."""
    for path in directory.iterdir():
        match = _LIVE_GAUGE_FILE.fullmatch(path.name)
        if match and not _process_exists(pid := int(match.group(1))):
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def mark_this_worker_dead() -> None:
    """At a worker's shutdown: its live gauges leave the sums at once."""
    directory = multiprocess_directory()
    if directory is not None:
        multiprocess.mark_process_dead(os.getpid(), str(directory))  # type: ignore[no-untyped-call]


def render() -> bytes:
    """One scrape: every worker's metrics added up, or this process's when there is one.

    Blocking file reads in multiprocess mode: call it from a thread.
    """
    directory = multiprocess_directory()
    if directory is None:
        return generate_latest(REGISTRY)
    mark_dead_workers(directory)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return generate_latest(registry)
