"""A/B: notes-api at a git revision against the working tree, side by side in one run.

    python -m bench.ab --base HEAD~1 --shape notes --shape me
    python -m bench.ab --base main --shape notes --shape notes100 --shape note --reference

The base revision's `src/` is exported to a temporary directory and put first
on PYTHONPATH for one server; the other runs the working tree. Both serve the
same freshly seeded database; the shapes take turns round by round, and the
medians and the ratio (working tree over base) are printed. This is how each
change to src/ was measured before it was committed. With `--reference`, the
reference app (bench/reference.py) takes its turn in every round of the
shapes it serves (the listings and one note), and the ratios to it are printed.

On a slow machine two server processes of the same code can differ by a tenth, and
persistently (docs/performance.md, "Every machine's `make bench`"): one process per
contender then measures its luck as much as its code. With `--fresh`, every contender is
served by a new process in every round, warmed up for a second, so that the medians pool
as many processes as rounds. Server start-up is then part of each turn's wall time, not
of its measurement.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

from bench import report, seed, servers
from bench.loadgen import LoadResult, LoadRun, Target, choose_tool, run_load
from bench.run import (
    add_load_arguments,
    in_turn,
    login,
    logins_target,
    median_of,
    one_pair_login_target,
)

SHAPES = (
    "healthz",
    "me",
    "notes",
    "notes100",
    "note",
    "login",
    "login-one-pair",
    "create",
    "notes-with-logins",
)
"""`notes`: GET /notes?limit=20, `notes100`: limit=100, `note`: GET /notes/{id};
`login`: eight users in turn; `login-one-pair`: one user from one address;
`notes-with-logins`: GET /notes at 8 connections while 8 logins are in flight."""
REFERENCE_SHAPES = ("notes", "notes100", "note")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("--base", default="HEAD", help="git revision to compare against")
    parser.add_argument("--shape", action="append", choices=SHAPES, help="repeatable")
    add_load_arguments(parser)
    parser.add_argument(
        "--reference",
        action="store_true",
        help="the reference app too, for " + ", ".join(REFERENCE_SHAPES),
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="a new server process for every contender in every round (slow machines)",
    )
    return parser.parse_args(argv)


@contextmanager
def exported_src(revision: str) -> Iterator[Path]:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "src", "migrations", "web"],
        capture_output=True,
        check=True,
        cwd=servers.REPO_ROOT,
    ).stdout
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as directory:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(directory, filter="data")
        yield Path(directory) / "src"


def targets(base_url: str, name: str) -> Target:
    return target(name, login(base_url, "reader").access_token)


def target(name: str, access_token: str) -> Target:
    """The request of shape `name`, as the reader with `access_token` sends it."""
    note = {"Authorization": f"Bearer {access_token}"}
    if name == "healthz":
        return Target("GET", "/healthz")
    if name == "me":
        return Target("GET", "/identify/me", note)
    if name in ("notes", "notes-with-logins"):
        return Target("GET", "/notes?limit=20", note)
    if name == "notes100":
        return Target("GET", "/notes?limit=100", note)
    if name == "note":
        return Target("GET", "/notes/2", note)  # the reader's (seed: even ids)
    if name == "create":
        body = '{"title": "ab note", "body": "ab"}'
        return Target("POST", "/notes", {**note, "Content-Type": "application/json"}, body)
    if name == "login-one-pair":
        return one_pair_login_target()
    return logins_target()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    tool = choose_tool(args.loadgen)
    url = seed.seeded(args.database_url)
    shapes = args.shape or ["notes"]
    with ExitStack() as stack:
        src = stack.enter_context(exported_src(args.base))
        base_env = {"PYTHONPATH": str(src)}
        starts: dict[str, Callable[[], AbstractContextManager[servers.Server]]] = {
            "base": lambda: servers.notes_api(url, extra_env=base_env),
            "head": lambda: servers.notes_api(url),
        }
        if args.reference:
            starts["ref"] = lambda: servers.reference(url)
        # One server per contender for the whole run; with --fresh, a new one every turn.
        running = {} if args.fresh else {n: stack.enter_context(s()) for n, s in starts.items()}
        for shape in shapes:
            names = [name for name in starts if name != "ref" or shape in REFERENCE_SHAPES]
            logins = ("login", "login-one-pair", "notes-with-logins")
            connections = 8 if shape in logins else args.connections
            # Every server serves one database with one key, so a token from the first will
            # do for all of them, the reference's included; "base" always runs first.
            target: Target | None = None
            if running:
                target = targets(running["base"].base_url, shape)
                for name in names:  # warm up
                    run_load(tool, running[name].base_url, target, connections, 1)
            runs: dict[str, list[LoadResult]] = {name: [] for name in names}
            cpu: dict[str, list[float]] = {name: [] for name in names}
            for number in range(args.rounds):
                for name in in_turn(names, number):
                    with ExitStack() as turn:
                        server = running.get(name) or turn.enter_context(starts[name]())
                        if target is None:
                            target = targets(server.base_url, shape)
                        if not running:  # a fresh process warms up on every turn
                            run_load(tool, server.base_url, target, connections, 1)
                        result, cpu_ms = _measure(tool, server, shape, target, connections, args)
                    cpu[name].append(cpu_ms)
                    print(
                        f"  {shape:<8} {name:<5} {report.row(result)}  CPU {cpu_ms:.3f} ms/req",
                        file=sys.stderr,
                    )
                    runs[name].append(result)
            b, h = median_of(runs["base"]), median_of(runs["head"])
            cb, ch = statistics.median(cpu["base"]), statistics.median(cpu["head"])
            print(
                f"{shape}: base {b['rps']:.1f} req/s p50 {b['p50_ms']:.2f} p99 {b['p99_ms']:.2f} "
                f"CPU {cb:.3f} ms/req | working tree {h['rps']:.1f} req/s p50 {h['p50_ms']:.2f} "
                f"p99 {h['p99_ms']:.2f} CPU {ch:.3f} ms/req | req/s x{h['rps'] / b['rps']:.2f}, "
                f"p99 x{h['p99_ms'] / b['p99_ms']:.2f}, CPU/req x{ch / cb:.2f}"
                f" (errors {b['errors']}/{h['errors']}, base {args.base})"
            )
            if "ref" in runs:
                r, cr = median_of(runs["ref"]), statistics.median(cpu["ref"])
                print(
                    f"{shape}: reference {r['rps']:.1f} req/s p50 {r['p50_ms']:.2f} "
                    f"p99 {r['p99_ms']:.2f} CPU {cr:.3f} ms/req (errors {r['errors']}) | "
                    f"base/reference x{b['rps'] / r['rps']:.2f}, "
                    f"working tree/reference x{h['rps'] / r['rps']:.2f} req/s, "
                    f"CPU/req x{ch / cr:.2f}"
                )


def _measure(
    tool: str,
    server: servers.Server,
    shape: str,
    target: Target,
    connections: int,
    args: argparse.Namespace,
) -> tuple[LoadResult, float]:
    """One run of `target` on `server`, and the server's CPU per request (ms)."""
    before = server.cpu_seconds()
    logins = None
    if shape == "notes-with-logins":
        login_target = targets(server.base_url, "login")
        logins = LoadRun(tool, server.base_url, login_target, 8, args.duration + 2)
        time.sleep(1)
    result = run_load(tool, server.base_url, target, connections, args.duration)
    if logins is not None:
        print(f"  {'':<8} {'':<5} logins {report.row(logins.result())}")
    return result, 1000 * (server.cpu_seconds() - before) / max(result.requests, 1)


if __name__ == "__main__":
    main()
