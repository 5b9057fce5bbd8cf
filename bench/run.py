"""`make bench`: every figure of the performance issue, measured side by side in one run.

Order of work:
1. Two databases: BENCH_DATABASE_URL with 10k notes, and the same name with a
   `_1m` suffix with 1M notes (bulk SQL, progress bar).
2. Three server processes: notes-api on each database and the reference app
   (bench/reference.py) on the 10k one; one uvicorn worker each unless told.
3. Rounds: each request shape runs `--rounds` times for `--duration` seconds, the
   shapes taking turns within a round, so that a noisy neighbour hits all of them
   alike, in reverse order every other round (`in_turn`), so that no shape always
   holds the same place; the medians are reported.
4. Concurrency sweep; raw argon2 on every core, the app's logins and the
   reference's taking turns in rounds; GET /notes with and without logins in
   flight, POST /notes, EXPLAIN at 1M rows, then the soak.
5. A table and the ratios on stdout; bench/results.json; docs/bench.png.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench import report, seed, servers, soak
from bench.loadgen import LoadResult, LoadRun, Target, choose_tool, run_load
from notes_api.pagination import encode_cursor

T = TypeVar("T")

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench"
CONCURRENCY_LEVELS = (1, 8, 32, 128, 256)
RESULTS = servers.REPO_ROOT / "bench" / "results.json"
SOAK_RESULTS = servers.REPO_ROOT / "bench" / "soak-results.json"
PLOT = servers.REPO_ROOT / "docs" / "bench.png"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmark notes-api against PostgreSQL."
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL,
        help="PostgreSQL for the 10k-note runs (created if missing); the 1M-note runs use the "
        "same name with a _1m suffix [BENCH_DATABASE_URL]",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per server")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the side-by-side shapes")
    parser.add_argument("--connections", type=int, default=32, help="connections per load")
    parser.add_argument("--small", type=int, default=10_000, help="notes in the small table")
    parser.add_argument("--large", type=int, default=1_000_000, help="notes in the large table")
    parser.add_argument(
        "--loadgen", choices=("auto", "wrk", "python"), default="auto", help="load generator"
    )
    parser.add_argument("--logins-in-flight", type=int, default=8)
    soak_group = parser.add_mutually_exclusive_group()
    soak_group.add_argument("--no-soak", action="store_true", help="skip the soak run")
    soak_group.add_argument("--soak-only", action="store_true", help="only the soak run")
    parser.add_argument(
        "--soak-duration", type=float, default=300.0, help="seconds (default 5 min)"
    )
    parser.add_argument("--soak-connections", type=int, default=16)
    parser.add_argument(
        "--results", type=Path, help=f"default {RESULTS} ({SOAK_RESULTS} with --soak-only)"
    )
    parser.add_argument("--plot", type=Path, default=PLOT)
    args = parser.parse_args(argv)
    if args.results is None:
        args.results = SOAK_RESULTS if args.soak_only else RESULTS
    return args


def add_load_arguments(
    parser: argparse.ArgumentParser,
    *,
    connections: int = 32,
    duration: float = 5.0,
    rounds: int = 3,
) -> None:
    """The options every side-by-side tool takes: where, how hard, how long, how often."""
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    )
    parser.add_argument("--connections", type=int, default=connections)
    parser.add_argument("--duration", type=float, default=duration)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")


def write_json(path: str | Path, results: object) -> None:
    Path(path).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def large_database_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_1m"))


@dataclass
class Session:
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def login(base_url: str, username: str, password: str = seed.PASSWORD) -> Session:
    data = urllib.parse.urlencode({"username": username, "password": password}).encode()
    with urllib.request.urlopen(f"{base_url}/token", data=data, timeout=30) as answer:  # noqa: S310
        body = json.loads(answer.read())
    return Session(body["access_token"], body["refresh_token"])


def login_form(username: str) -> str:
    return urllib.parse.urlencode({"username": username, "password": seed.PASSWORD})


LOGIN_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def logins_target() -> Target:
    """POST /token for login00..login07 in turn: eight users, each its own throttling pair,
    as logins arrive in life."""
    forms = [login_form(f"login{i:02d}") for i in range(seed.LOGIN_USERS)]
    return Target("POST", "/token", LOGIN_FORM_HEADERS, forms[0], tuple(forms[1:]))


def one_pair_login_target() -> Target:
    """POST /token for one user from one address, again and again: the throttle lets at
    most as many of one pair run at once as failures are left, the others wait their turn."""
    return Target("POST", "/token", LOGIN_FORM_HEADERS, login_form("login"))


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tool = choose_tool(args.loadgen)
        self.results: dict[str, Any] = {
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": "python -m bench " + " ".join(sys.argv[1:]),
            "machine": machine(),
            "settings": {
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in vars(args).items()
                if k != "database_url"
            },
            "load_generator": self.tool,
        }

    def load(
        self, base_url: str, target: Target, connections: int | None = None, label: str = ""
    ) -> LoadResult:
        result = run_load(
            self.tool,
            base_url,
            target,
            connections or self.args.connections,
            self.args.duration,
        )
        print(f"  {label:<34} {report.row(result)}", file=sys.stderr, flush=True)
        return result

    def rounds(self, shapes: dict[str, Callable[[], LoadResult]]) -> dict[str, dict[str, Any]]:
        """Run every shape once per round, taking turns; keep each run and the medians."""
        runs = take_turns(shapes, self.args.rounds)
        return {name: median_of(results) for name, results in runs.items()}


def take_turns(contenders: dict[str, Callable[[], T]], rounds: int) -> dict[str, list[T]]:
    """Each contender's runs, `rounds` of them, one per round, taking turns (`in_turn`)."""
    runs: dict[str, list[T]] = {name: [] for name in contenders}
    for number in range(1, rounds + 1):
        print(f"round {number}/{rounds}", file=sys.stderr)
        for name, measure in in_turn(contenders.items(), number - 1):
            runs[name].append(measure())
    return runs


def in_turn(contenders: Iterable[T], round_number: int) -> list[T]:
    """The order in which side-by-side contenders run in round `round_number` (from 0):
    as given in even rounds, reversed in odd ones.

    Taking turns in one fixed order lets the place itself weigh on the result: with the
    same code on both arms, `bench.ab` measured the working tree at x0.88 and x0.87 of the
    base (note, notes) when the base ran first in every round, and at x0.97 and x1.11 (note,
    healthz) when the working tree did. Reversed every other round, each contender runs as
    often first as last over an even number of rounds.
    """
    order = list(contenders)
    return order if round_number % 2 == 0 else order[::-1]


def alternating_rounds(
    tool: str, arms: dict[str, servers.Server], path: str, args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """`GET path` as the reader on each server, warmed up, then `args.rounds` rounds in which
    the servers take turns: each arm's medians, with its server CPU per request."""
    targets = {
        name: Target("GET", path, login(server.base_url, "reader").headers)
        for name, server in arms.items()
    }
    for name, server in arms.items():  # warm up
        run_load(tool, server.base_url, targets[name], args.connections, 1)
    runs: dict[str, list[LoadResult]] = {name: [] for name in arms}
    cpu = dict.fromkeys(arms, 0.0)
    for number in range(args.rounds):
        for name, server in in_turn(arms.items(), number):
            before = server.cpu_seconds()
            runs[name].append(
                run_load(tool, server.base_url, targets[name], args.connections, args.duration)
            )
            cpu[name] += server.cpu_seconds() - before
    summary = {name: median_of(results) for name, results in runs.items()}
    for name, arm in summary.items():
        arm["cpu_ms_per_request"] = round(1000 * cpu[name] / max(arm["requests"], 1), 3)
    return summary


def median_of(results: list[LoadResult]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        key: statistics.median(getattr(r, key) for r in results)
        for key in ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms")
    }
    summary["connections"] = results[0].connections
    summary["errors"] = sum(r.errors for r in results)
    summary["requests"] = sum(r.requests for r in results)
    summary["runs"] = [r.as_dict() for r in results]
    return summary


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        info["cpu"] = model
    except (OSError, StopIteration):
        pass
    with suppress(OSError):
        info["postgresql"] = subprocess.run(
            ["psql", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    return info


def raw_argon2(threads: int, duration: float) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.hashing", "--threads", str(threads), "-d", str(duration)],
        capture_output=True,
        text=True,
        check=True,
        cwd=servers.REPO_ROOT,
    ).stdout
    result: dict[str, Any] = json.loads(output)
    print(
        f"  {'raw argon2, ' + str(threads) + ' thread(s)':<34} "
        f"{result['per_second']:8.1f} verifications/s  ({result['ms_each']:.1f} ms each)",
        file=sys.stderr,
    )
    return result


def median_of_raw_argon2(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Raw argon2 over several runs: the median rate, and each run's rate."""
    rates = [run["per_second"] for run in runs]
    return {
        **runs[0],
        "verifications": sum(run["verifications"] for run in runs),
        "per_second": statistics.median(rates),
        "ms_each": statistics.median(run["ms_each"] for run in runs),
        "runs": rates,
    }


def logins_beside_raw_argon2(
    bench: Bench, app: servers.Server, ref: servers.Server, target: Target
) -> dict[str, Any]:
    """Raw argon2 on every core, the app's logins and the reference's, taking turns in
    `--rounds` rounds (`in_turn`); the medians, as the reads are measured.

    The target divides two rates, and measured once each, minutes apart, it moved with the
    machine: on a 2-CPU machine, raw argon2 made 49.7 and then 68.1 verifications a second
    in two 10-second runs a minute apart. Taking turns puts every contender in every
    stretch of the run, so such a drift weighs on both sides of the ratio alike.
    """
    args = bench.args
    cpus = os.cpu_count() or 1
    in_flight = args.logins_in_flight
    contenders: dict[str, Callable[[], Any]] = {
        "all_cores": lambda: raw_argon2(cpus, args.duration),
        "login": lambda: bench.load(app.base_url, target, in_flight, f"POST /token c={in_flight}"),
        "reference_login": lambda: bench.load(
            ref.base_url, target, in_flight, f"reference POST /token c={in_flight}"
        ),
    }
    one_thread = raw_argon2(1, args.duration)
    runs = take_turns(contenders, args.rounds)
    return {
        "argon2_raw": {
            "one_thread": one_thread,
            "all_cores": median_of_raw_argon2(runs["all_cores"]),
        },
        "login": median_of(runs["login"]),
        "reference_login": median_of(runs["reference_login"]),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args)
    small_url = seed.sqlalchemy_url(args.database_url)
    large_url = large_database_url(small_url)
    results = bench.results
    d = args.duration

    print(f"preparing {small_url} ({args.small:,} notes)", file=sys.stderr)
    small_users = seed.prepare(small_url)
    seed.seed_notes(small_url, small_users, args.small)
    if not args.soak_only:
        print(f"preparing {large_url} ({args.large:,} notes)", file=sys.stderr)
        large_users = seed.prepare(large_url)
        seed.seed_notes(large_url, large_users, args.large)

    with ExitStack() as stack:
        app = stack.enter_context(servers.notes_api(small_url, args.workers))
        if args.soak_only:
            results["soak"] = soak.run(app, small_users, args.soak_duration, args.soak_connections)
            return results
        app_large = stack.enter_context(servers.notes_api(large_url, args.workers))
        ref = stack.enter_context(servers.reference(small_url))
        print(
            f"servers: notes-api {app.base_url} (pid {app.pid}), "
            f"notes-api 1M {app_large.base_url}, reference {ref.base_url}",
            file=sys.stderr,
        )
        reader = login(app.base_url, "reader")
        reader_large = login(app_large.base_url, "reader")
        writer = login(app.base_url, "writer")
        small_deep = encode_cursor(seed.deep_cursor_id(small_url, small_users.reader))
        large_deep = encode_cursor(seed.deep_cursor_id(large_url, large_users.reader))
        first = "/notes?limit=20"
        one = "/notes/2"  # the reader's (seed: even ids)
        targets = {
            "healthz": (app.base_url, Target("GET", "/healthz")),
            "identify_me": (app.base_url, Target("GET", "/identify/me", reader.headers)),
            "notes": (app.base_url, Target("GET", first, reader.headers)),
            "reference": (ref.base_url, Target("GET", first, reader.headers)),
            "notes_100": (app.base_url, Target("GET", "/notes?limit=100", reader.headers)),
            "reference_100": (ref.base_url, Target("GET", "/notes?limit=100", reader.headers)),
            "note": (app.base_url, Target("GET", one, reader.headers)),
            "reference_note": (ref.base_url, Target("GET", one, reader.headers)),
            "notes_deep": (
                app.base_url,
                Target("GET", f"{first}&cursor={small_deep}", reader.headers),
            ),
            "notes_1m": (app_large.base_url, Target("GET", first, reader_large.headers)),
            "notes_1m_deep": (
                app_large.base_url,
                Target("GET", f"{first}&cursor={large_deep}", reader_large.headers),
            ),
        }

        print("warming up", file=sys.stderr)
        for base_url, target in targets.values():
            run_load(bench.tool, base_url, target, args.connections, 1)

        def shape(name: str) -> Callable[[], LoadResult]:
            base_url, target = targets[name]
            return lambda: bench.load(base_url, target, label=name)

        results["endpoints"] = bench.rounds({name: shape(name) for name in targets})

        print("concurrency sweep: GET /notes?limit=20", file=sys.stderr)
        results["concurrency"] = []
        results["concurrency_reference"] = []
        for c in CONCURRENCY_LEVELS:  # the reference alongside, for what no app can beat
            results["concurrency"].append(
                bench.load(app.base_url, targets["notes"][1], c, f"notes c={c}").as_dict()
            )
            results["concurrency_reference"].append(
                bench.load(ref.base_url, targets["reference"][1], c, f"reference c={c}").as_dict()
            )

        print("password hashing", file=sys.stderr)
        login_target = logins_target()
        in_flight = args.logins_in_flight
        results |= logins_beside_raw_argon2(bench, app, ref, login_target)
        results["login_one_pair"] = bench.load(
            app.base_url, one_pair_login_target(), in_flight, f"POST /token 1 pair c={in_flight}"
        ).as_dict()

        print(f"GET /notes with and without {in_flight} logins in flight", file=sys.stderr)
        notes_target = targets["notes"][1]
        reads = args.logins_in_flight

        def notes_alone() -> LoadResult:
            return bench.load(app.base_url, notes_target, reads, f"notes c={reads}, no logins")

        def notes_with_logins() -> LoadResult:
            logins = LoadRun(bench.tool, app.base_url, login_target, in_flight, d + 2)
            time.sleep(1)
            reading = bench.load(app.base_url, notes_target, reads, f"notes c={reads}, logins")
            login_result = logins.result()
            print(f"  {'  (logins meanwhile)':<34} {report.row(login_result)}", file=sys.stderr)
            reading.error_detail = {**reading.error_detail, "logins_rps": int(login_result.rps)}
            return reading

        results["logins_in_flight"] = bench.rounds(
            {"without": notes_alone, "with": notes_with_logins}
        )

        print("POST /notes", file=sys.stderr)
        note_body = json.dumps({"title": "bench note", "body": seed.BODY[:200], "source": "bench"})
        results["create_note"] = bench.load(
            app.base_url,
            Target(
                "POST",
                "/notes",
                {**writer.headers, "Content-Type": "application/json"},
                note_body,
            ),
            label="POST /notes",
        ).as_dict()

        results["explain"] = {
            "first_page_1m": seed.explain(large_url, large_users.reader, None),
            "deep_page_1m": seed.explain(
                large_url, large_users.reader, seed.deep_cursor_id(large_url, large_users.reader)
            ),
        }

        if not args.no_soak:
            results["soak"] = soak.run(app, small_users, args.soak_duration, args.soak_connections)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    results = run(args)
    results["ratios"] = report.ratios(results)
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(report.render(results))
    print(f"\nwrote {args.results}")
    if not args.soak_only:
        try:
            report.plot(results, args.plot)
            print(f"wrote {args.plot}")
        except ImportError:
            print("matplotlib is missing (pip install -e '.[bench]'): no plot", file=sys.stderr)
    failed = [name for name, ratio in results["ratios"].items() if ratio.get("met") is False]
    if failed:
        print(f"targets missed: {', '.join(failed)} (see docs/performance.md)")
