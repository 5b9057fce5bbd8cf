"""Where a login's CPU goes: the event loop, the hashing threads, PostgreSQL.

    python -m bench.login_cpu --rounds 3

Serves the app twice, one uvicorn worker each, on one seeded database: as shipped,
and with the password check answered from a cache after its first computation
(`without_hashing`: what a login costs besides argon2). Each round drives
`POST /token` for eight users at 8 connections (`--connections`) with wrk and reads, from /proc,
the CPU time of the server's threads (its main thread runs the event loop; the
others are the hashing threads) and of every PostgreSQL process, divided by the
logins answered. The reference login (`bench.reference_login`: the same statements,
locks and argon2 on psycopg, with no framework) is served and measured beside them.
Raw argon2 on all cores (`bench.hashing`) takes its turn in every round with the servers,
as in `make bench`, so the printed ratio is the one `make bench` checks, and the
reference's beside it shows how much of the gap any framework would leave.

The split is what docs/performance.md reasons from: on 2 CPUs, every millisecond
the event loop and PostgreSQL spend per login is a millisecond argon2 does not get.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from bench import seed, servers
from bench.loadgen import choose_tool, run_load
from bench.revocation import factory_server
from bench.run import (
    add_load_arguments,
    logins_target,
    median_of_raw_argon2,
    raw_argon2,
    take_turns,
    write_json,
)

RAW_ARGON2 = "raw_argon2"


def as_shipped() -> FastAPI:
    from notes_api.main import create_app

    return create_app()


def without_hashing() -> FastAPI:
    """The same app, each (password, hash) pair verified once and then answered from a
    cache: a login's statements, HTTP and token work, without argon2's 20 ms."""
    from notes_api.auth import passwords
    from notes_api.sessions import service

    verified: dict[tuple[str, str], tuple[bool, str | None]] = {}

    def verify_once(password: str, hashed: str) -> tuple[bool, str | None]:
        if (password, hashed) not in verified:
            verified[password, hashed] = passwords.verify_password(password, hashed)
        return verified[password, hashed]

    service.verify_password = verify_once  # the name authenticate() calls
    return as_shipped()


def thread_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds of the process's main thread (the event loop) and of all its others: the
    process's total, which keeps the ticks of threads that have exited, less the main one's."""
    total = servers.stat_ticks(Path(f"/proc/{pid}/stat").read_text())
    main = servers.stat_ticks(Path(f"/proc/{pid}/task/{pid}/stat").read_text())
    per_second = os.sysconf("SC_CLK_TCK")
    return main / per_second, (total - main) / per_second


def postgres_seconds() -> float:
    """CPU seconds of every PostgreSQL process on this machine (it serves only the bench)."""
    ticks = sum(
        servers.stat_ticks(stat)
        for _, stat in servers.process_stats()
        if stat.split("(", 1)[1].startswith("postgres")
    )
    return ticks / os.sysconf("SC_CLK_TCK")


def measure(
    tool: str, server: servers.Server, connections: int, duration: float
) -> dict[str, float]:
    main_before, others_before = thread_seconds(server.pid)
    postgres_before = postgres_seconds()
    result = run_load(tool, server.base_url, logins_target(), connections, duration)
    main_after, others_after = thread_seconds(server.pid)
    logins = max(result.requests - result.errors, 1)  # the logins answered, not the refusals
    return {
        "logins_per_second": result.rps,
        "errors": result.errors,
        "event_loop_ms": 1000 * (main_after - main_before) / logins,
        "hashing_threads_ms": 1000 * (others_after - others_before) / logins,
        "postgres_ms": 1000 * (postgres_seconds() - postgres_before) / logins,
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    tool = choose_tool(args.loadgen)
    url = seed.sqlalchemy_url(args.database_url)
    seed.prepare(url)
    with ExitStack() as stack:
        arms = {
            name: stack.enter_context(factory_server(url, f"bench.login_cpu:{name}"))
            for name in ("as_shipped", "without_hashing")
        }
        arms["reference"] = stack.enter_context(servers.reference(url))
        for server in arms.values():  # warm up
            run_load(tool, server.base_url, logins_target(), args.connections, 2)
        # Raw argon2 takes its turn in every round, not once after them: on a 2-CPU machine
        # its rate moved by a third within minutes, and the ratio divides the two.
        contenders: dict[str, Callable[[], Any]] = {
            name: partial(measure, tool, server, args.connections, args.duration)
            for name, server in arms.items()
        }
        contenders[RAW_ARGON2] = partial(raw_argon2, os.cpu_count() or 1, args.duration)
        runs = take_turns(contenders, args.rounds)
    raw = median_of_raw_argon2(runs.pop(RAW_ARGON2))
    print(
        f"{'raw argon2':>16}: {raw['per_second']:6.1f} verifications/s on {raw['threads']} "
        f"thread(s), the median of {', '.join(f'{rate:.1f}' for rate in raw['runs'])}"
    )
    medians: dict[str, dict[str, float]] = {}
    for name, rounds in runs.items():
        median = medians[name] = {
            key: statistics.median(r[key] for r in rounds) for key in rounds[0]
        }
        median["errors"] = sum(r["errors"] for r in rounds)
        print(
            f"{name:>16}: {median['logins_per_second']:6.1f} logins/s  per login: event loop "
            f"{median['event_loop_ms']:5.2f} ms, hashing threads "
            f"{median['hashing_threads_ms']:5.2f} ms, PostgreSQL {median['postgres_ms']:5.2f} ms"
            f"  (errors {median['errors']:.0f})"
        )
    ratio = medians["as_shipped"]["logins_per_second"] / raw["per_second"]
    reference = medians["reference"]["logins_per_second"] / raw["per_second"]
    over_reference = (
        medians["as_shipped"]["logins_per_second"] / medians["reference"]["logins_per_second"]
    )
    print(f"logins over raw argon2 on all cores: {ratio:.3f}")
    print(f"the reference's logins over raw argon2: {reference:.3f}")
    print(f"logins over the reference's: {over_reference:.3f}")
    return {
        "raw_argon2_all_cores": raw,
        "medians": medians,
        "rounds": runs,
        "login_vs_raw_argon2": round(ratio, 3),
        "reference_login_vs_raw_argon2": round(reference, 3),
        "login_vs_reference_login": round(over_reference, 3),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.login_cpu", description=__doc__)
    add_load_arguments(parser, connections=8, duration=10.0)
    parser.add_argument("--json", help="write the results to this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    results = run(args)
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
