"""A/B/C: what the Prometheus metrics cost a request. One build, three servers side by side:

- `on`: as shipped with one worker (every request increments a counter and observes a
  histogram in process memory);
- `multiprocess`: as shipped with several workers, where `notes-api serve` sets
  `PROMETHEUS_MULTIPROC_DIR` and the same two calls write to memory-mapped files;
- `off`: the same app with the per-request observation replaced by a no-op.

    python -m bench.metrics_ab --rounds 5

The shapes (`GET /identify/me`, `GET /notes?limit=20`) take turns with the servers round
by round; medians, server CPU per request and the ratios to `off` are printed.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack

from fastapi import FastAPI
from starlette.types import Scope

from bench import seed
from bench.loadgen import choose_tool
from bench.revocation import factory_server
from bench.run import add_load_arguments, alternating_rounds, write_json

SHAPES = {"me": "/identify/me", "notes": "/notes?limit=20"}


def app_with_metrics() -> FastAPI:
    from notes_api.main import create_app

    return create_app()


def app_without_metrics() -> FastAPI:
    """The same app, observing nothing per request (the access log still times each one)."""
    from notes_api import observability

    def observe_nothing(_scope: Scope, _status: int, _seconds: float) -> None:
        return None

    observability.observe_request = observe_nothing  # the name the access log middleware calls
    return app_with_metrics()


def run(args: argparse.Namespace) -> dict[str, object]:
    tool = choose_tool(args.loadgen)
    url = seed.seeded(args.database_url)
    results: dict[str, object] = {}
    with ExitStack() as stack:
        directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="metrics-ab-"))
        arms = {
            name: stack.enter_context(factory_server(url, f"bench.metrics_ab:{factory}", env))
            for name, factory, env in (
                ("on", "app_with_metrics", {}),
                ("multiprocess", "app_with_metrics", {"PROMETHEUS_MULTIPROC_DIR": directory}),
                ("off", "app_without_metrics", {}),
            )
        }
        for shape, path in SHAPES.items():
            summary = alternating_rounds(tool, arms, path, args)
            off = summary["off"]
            for name in arms:
                arm = summary[name]
                arm["over_off"] = round(arm["rps"] / off["rps"], 3)
                print(
                    f"{shape} {name:>12}: {arm['rps']:8.1f} req/s  p99 {arm['p99_ms']:7.2f} ms  "
                    f"CPU {arm['cpu_ms_per_request']:.3f} ms/request  over off x{arm['over_off']}"
                    f"  errors {arm['errors']}"
                )
            results[shape] = summary
    return results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_ab", description=__doc__)
    add_load_arguments(parser)
    parser.add_argument("--json", help="write the results to this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    results = run(args)
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
