"""Prometheus itself: Debian's `prometheus` scraping a real notes-api with two workers, and
`promtool` checking the compose profile's configuration, alerts and dashboard queries."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_SECRET, MakeUser
from tests.servers import NOTES_API, free_port, running_server

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIRECTORY = ROOT / "docker" / "prometheus"
DASHBOARD = ROOT / "docs" / "grafana" / "notes-api.json"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None,
    reason="Debian's prometheus is not installed (apt-get install prometheus; .ci/run does)",
)
BATCH = 120


def prometheus_config(directory: Path, token_file: Path, target: str | None = None) -> Path:
    """The compose profile's configuration, pointed at `token_file` (and `target`)."""
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(CONFIG_DIRECTORY / name, directory / name)
    config: dict[str, Any] = yaml.safe_load((directory / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    job["authorization"]["credentials_file"] = str(token_file)
    if target is not None:
        config["global"]["scrape_interval"] = "1s"
        job["static_configs"] = [{"targets": [target]}]
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    return directory / "prometheus.yml"


@needs_prometheus
def test_the_compose_profile_configuration_and_alerts_pass_promtool(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("nap_placeholder")
    config = prometheus_config(tmp_path, token)
    checked = subprocess.run(
        [str(PROMTOOL), "check", "config", str(config)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout + checked.stderr


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@needs_prometheus
def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {
                        "record": f"dashboard:query{index}",
                        "expr": expr.replace("$__rate_interval", "5m").replace("$job", "x"),
                    }
                    for index, expr in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    checked = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(tmp_path / "rules.yml")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    text = " ".join(dashboard_queries())
    for needed in (
        "rate(notes_api_http_requests_total",
        'status=~"5..',
        "histogram_quantile(0.95, sum by (le, route)",
        "sum by (outcome) (rate(notes_api_logins_total",
        "notes_api_refresh_reuse_total",
        "notes_api_db_pool_connections",
    ):
        assert needed in text


@contextmanager
def running_prometheus(config: Path, data: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx2.get(f"{base_url}/-/ready", timeout=2).status_code == 200)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_for(condition: Any, timeout: float = 90, state: Any = None) -> Any:
    """Poll until `condition()` is truthy (a wait, not a timing assertion); on time out,
    say what `state()` shows."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if result := condition():
                return result
        except (httpx2.TransportError, KeyError, IndexError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met: {state() if state else ''}")
        time.sleep(0.25)


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx2.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5)
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def live_workers(api: str, token: str) -> set[str]:
    """The pids of the workers that have started (each samples its memory once a second)."""
    scrape = httpx2.get(f"{api}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return {
        sample.labels["pid"]
        for family in text_string_to_metric_families(scrape.text)
        for sample in family.samples
        if sample.name == "process_resident_memory_bytes"
    }


def count_per_worker(directory: Path, name: str, **labels: str) -> dict[int, float]:
    """Each worker's own count of a counter's series, read from its counter file alone."""
    counts = {}
    for counter_file in directory.glob("counter_*.db"):
        alone = directory.parent / f"alone-{counter_file.stem}"
        shutil.rmtree(alone, ignore_errors=True)
        alone.mkdir()
        shutil.copy(counter_file, alone / counter_file.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        pid = int(re.sub(r"\D", "", counter_file.stem))
        counts[pid] = sum(
            sample.value
            for family in registry.collect()
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )
    return counts


@needs_prometheus
def test_prometheus_scrapes_two_workers_and_sees_both_totals(
    database_url: str, make_user: MakeUser, tmp_path: Path
) -> None:
    metrics_directory = tmp_path / "multiproc"
    settings = {
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": TEST_SECRET,
        "APP_ENV": "development",
    }
    env = {
        **settings,
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_directory),
    }
    make_user("prometheus", roles=["metrics"])
    # The credential docs/operations.md has operators make: a personal access token, printed
    # alone on standard output by the command line, into Prometheus's credentials file.
    token_file = tmp_path / "token"
    with token_file.open("w") as output:
        subprocess.run(
            [NOTES_API, "create-token", "prometheus", "--name", "prometheus", "--roles", "metrics"],
            env={**os.environ, **settings},
            stdout=output,
            check=True,
        )
    assert token_file.read_text().startswith("nap_")
    someone = make_user()
    with running_server(env) as api:
        login = httpx2.post(  # one login, to see the workers' login counts added up
            f"{api}/token",
            data={"username": someone.username, "password": someone.password},
            timeout=10,
        )
        assert login.status_code == 200
        # /readyz answered once one worker was up; load goes to workers already serving.
        wait_for(lambda: len(live_workers(api, token_file.read_text().strip())) == 2)
        statuses: list[int] = []

        def both_workers_answered() -> bool:
            """Another batch on new connections, until each worker has answered some."""
            with ThreadPoolExecutor(max_workers=16) as pool:
                get = lambda _: httpx2.get(f"{api}/healthz", timeout=10).status_code  # noqa: E731
                statuses.extend(pool.map(get, range(BATCH)))
            counts = count_per_worker(
                metrics_directory, "notes_api_http_requests_total", route="/healthz"
            )
            # At least two: under heavy load uvicorn may replace a worker that misses its ping.
            return sum(1 for count in counts.values() if count) >= 2

        wait_for(
            both_workers_answered,
            timeout=180,  # a replaced worker can take long to start on a loaded machine
            state=lambda: count_per_worker(
                metrics_directory, "notes_api_http_requests_total", route="/healthz"
            ),
        )
        assert statuses == [200] * len(statuses)
        requests = len(statuses)
        config = prometheus_config(tmp_path, token_file, target=api.removeprefix("http://"))
        with running_prometheus(config, tmp_path / "data") as prometheus:
            total = 'sum(notes_api_http_requests_total{job="notes-api",route="/healthz"})'
            wait_for(
                lambda: float(query(prometheus, total)[0]["value"][1]) == requests,
                state=lambda: (requests, query(prometheus, total), query(prometheus, "up")),
            )
            targets = httpx2.get(f"{prometheus}/api/v1/targets", timeout=5).json()
            (target,) = targets["data"]["activeTargets"]
            assert (target["health"], target["lastError"]) == ("up", "")
            workers = query(prometheus, 'process_resident_memory_bytes{job="notes-api"}')
            logins = query(prometheus, 'notes_api_logins_total{outcome="succeeded"}')
            pool = query(prometheus, 'notes_api_db_pool_connections{state="in_use"}')
        per_worker = count_per_worker(
            metrics_directory, "notes_api_http_requests_total", route="/healthz"
        )

    assert len({series["metric"]["pid"] for series in workers}) == 2
    assert [series["value"][1] for series in logins] == ["1"]
    assert len(pool) == 1
    assert sum(1 for count in per_worker.values() if count) >= 2, per_worker
    assert sum(per_worker.values()) == requests
