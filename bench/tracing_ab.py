"""A/B/C: what tracing costs a request. One working tree, three servers side by side:

- `off`: no `OTEL_*` variable (OpenTelemetry is not even imported);
- `sdk`: the SDK on, spans made for every request and statement, exported nowhere
  (`OTEL_TRACES_EXPORTER=none`);
- `refused`: the SDK on, exporting over OTLP to a port that refuses connections
  (a collector that is down): spans queue and are dropped, requests must not notice.

    python -m bench.tracing_ab --shape me --rounds 5

Rounds alternate between the servers; medians and the ratios to `off` are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Sequence
from contextlib import ExitStack

from bench import report, seed, servers
from bench.ab import targets
from bench.loadgen import LoadResult, choose_tool, run_load
from bench.run import add_load_arguments, in_turn, median_of

ARMS = {
    "off": {},
    "sdk": {"OTEL_TRACES_EXPORTER": "none", "OTEL_SERVICE_NAME": "notes-api-bench"},
    "refused": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{servers.free_port()}",
        "OTEL_SERVICE_NAME": "notes-api-bench",
    },
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing_ab", description=__doc__)
    parser.add_argument("--shape", action="append", choices=("me", "notes", "healthz"))
    add_load_arguments(parser, rounds=5)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    tool = choose_tool(args.loadgen)
    url = seed.seeded(args.database_url)
    clean = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    os.environ.clear()
    os.environ.update(clean)  # every arm starts from no OTEL_* at all
    with ExitStack() as stack:
        arms = {
            name: stack.enter_context(servers.notes_api(url, extra_env=env))
            for name, env in ARMS.items()
        }
        for shape in args.shape or ["me"]:
            pairs = {
                name: (server, targets(server.base_url, shape)) for name, server in arms.items()
            }
            runs: dict[str, list[LoadResult]] = {name: [] for name in arms}
            cpu: dict[str, list[float]] = {name: [] for name in arms}
            for server, target in pairs.values():  # warm up
                run_load(tool, server.base_url, target, args.connections, 1)
            for number in range(args.rounds):
                for name, (server, target) in in_turn(pairs.items(), number):
                    before = server.cpu_seconds()
                    result = run_load(
                        tool, server.base_url, target, args.connections, args.duration
                    )
                    cpu_ms = 1000 * (server.cpu_seconds() - before) / max(result.requests, 1)
                    cpu[name].append(cpu_ms)
                    runs[name].append(result)
                    print(
                        f"  {shape:<7} {name:<8} {report.row(result)}  CPU {cpu_ms:.3f} ms/req",
                        file=sys.stderr,
                    )
            off = median_of(runs["off"])
            off_cpu = statistics.median(cpu["off"])
            for name in arms:
                m, c = median_of(runs[name]), statistics.median(cpu[name])
                print(
                    f"{shape} {name:<8} {m['rps']:.1f} req/s p50 {m['p50_ms']:.2f} ms "
                    f"p99 {m['p99_ms']:.2f} ms CPU {c:.3f} ms/req | vs off: req/s "
                    f"x{m['rps'] / off['rps']:.3f}, CPU/req x{c / off_cpu:.3f} "
                    f"(errors {m['errors']})"
                )


if __name__ == "__main__":
    main()
