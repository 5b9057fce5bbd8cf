"""Instructions per request, counted by valgrind's callgrind: an A/B without the noise.

    python -m bench.instructions --base HEAD --shape note --shape me --reference

On a slow machine two server processes of the same code differ by a tenth in req/s, and
persistently (docs/performance.md, "Every machine's `make bench`"), so `bench.ab` cannot
show a change worth a few percent there. The instructions a process executes do not
depend on its luck (address layout, caches, what the other core runs): the same code
serving the same requests executes the same number, to within 1 % (what still moves it
between processes is probably the hash seed, and how often the event loop finds a socket
not yet ready; not established).

Each contender (the base revision's `src/`, the working tree, and with `--reference` the
reference app) is served under `valgrind --tool=callgrind` with instrumentation off while
it starts and warms up (valgrind then runs at about a quarter of native speed), and on
while it answers `--requests` requests of each shape, one after another on one keep-alive
connection. Callgrind dumps its counts per thread: the main thread runs the event loop,
the others hash passwords (a login's argon2) or wait. The event loop's instructions are
the framework's and the app's work per request, which is what a speed change to `src/`
moves.

Instructions are not time: a cache miss costs more than an add, and argon2's memory
traffic more than its instruction count says. So this counts the work a change removes,
beside `bench.ab`'s req/s, not instead of them.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench import ab, seed, servers
from bench.loadgen import Target
from bench.run import DEFAULT_DATABASE_URL, login

SHAPES = ("healthz", "me", "notes", "note", "login")
REFERENCE_SHAPES = ("notes", "note", "login")
READY_TIMEOUT = 900.0
"""Seconds a server under valgrind may take to start (about 30 on a slow machine)."""
WARM_UP = 30
"""Requests of each shape before counting: caches filled, statements prepared (psycopg
prepares a statement on its fifth execution on a connection)."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--base", default="HEAD", help="git revision to compare against")
    parser.add_argument("--shape", action="append", choices=SHAPES, help="repeatable")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="the reference app too, for " + ", ".join(REFERENCE_SHAPES),
    )
    parser.add_argument(
        "--requests", type=int, default=300, help="counted per shape (logins: a tenth)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="counts per shape, median")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    )
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Count:
    event_loop: float
    """Instructions of the main thread per request."""
    total: float
    """Instructions of every thread of the process per request."""


def callgrind_wrapper(out_dir: Path) -> list[str]:
    return [
        "valgrind",
        "--quiet",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--separate-threads=yes",
        f"--callgrind-out-file={out_dir / 'callgrind.out'}",
    ]


def _callgrind_control(pid: int, *options: str) -> None:
    subprocess.run(["callgrind_control", *options, str(pid)], check=True, capture_output=True)


def read_dump(out_dir: Path, dump: int) -> dict[int, int]:
    """Instructions per thread number in callgrind's `dump`-th dump of `out_dir`."""
    counts: dict[int, int] = {}
    for path in out_dir.glob(f"callgrind.out.{dump}-*"):
        thread = int(path.name.rsplit("-", 1)[1])
        found = re.search(r"^(?:totals|summary): (\d+)", path.read_text(), re.MULTILINE)
        counts[thread] = int(found.group(1)) if found else 0
    if not counts:
        raise RuntimeError(f"callgrind wrote no dump {dump} in {out_dir}")
    return counts


class Client:
    """One keep-alive connection, sending a target's requests (its bodies in turn)."""

    def __init__(self, base_url: str) -> None:
        address = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(address.hostname or "", address.port)

    def send(self, target: Target, count: int) -> None:
        bodies = target.bodies
        for number in range(count):
            body = bodies[number % len(bodies)] or None
            self.connection.request(target.method, target.path, body, target.headers)
            answer = self.connection.getresponse()
            answer.read()
            if not 200 <= answer.status < 300:
                raise RuntimeError(f"{target.method} {target.path} answered {answer.status}")


class Contender:
    """One server under callgrind; counts are taken one dump after another."""

    def __init__(self, server: servers.Server, out_dir: Path) -> None:
        self.server = server
        self.out_dir = out_dir
        self.client = Client(server.base_url)
        self.dumps = 0
        self.instrumented = False

    def count(self, target: Target, requests: int) -> Count:
        if not self.instrumented:  # the whole process's code is translated anew once
            _callgrind_control(self.server.pid, "--instr=on")
            self.instrumented = True
        self.client.send(target, WARM_UP // 3)
        _callgrind_control(self.server.pid, "--zero")
        self.client.send(target, requests)
        _callgrind_control(self.server.pid, "--dump")
        self.dumps += 1
        per_thread = read_dump(self.out_dir, self.dumps)
        return Count(per_thread[1] / requests, sum(per_thread.values()) / requests)


@contextmanager
def contender(
    start: Callable[[Sequence[str]], AbstractContextManager[servers.Server]],
) -> Iterator[Contender]:
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as directory:
        out_dir = Path(directory)
        with start(callgrind_wrapper(out_dir)) as server:
            yield Contender(server, out_dir)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    url = seed.seeded(args.database_url)
    shapes = args.shape or ["note"]
    with ExitStack() as stack:
        src = stack.enter_context(ab.exported_src(args.base))
        starts: dict[str, Callable[[Sequence[str]], AbstractContextManager[servers.Server]]] = {
            "base": lambda wrapper: servers.notes_api(
                url, extra_env={"PYTHONPATH": str(src)}, wrapper=wrapper,
                ready_timeout=READY_TIMEOUT,
            ),
            "head": lambda wrapper: servers.notes_api(
                url, wrapper=wrapper, ready_timeout=READY_TIMEOUT
            ),
        }  # fmt: skip
        if args.reference and any(shape in REFERENCE_SHAPES for shape in shapes):
            starts["ref"] = lambda wrapper: servers.reference(
                url, wrapper=wrapper, ready_timeout=READY_TIMEOUT
            )
        counts: dict[tuple[str, str], Count] = {}
        token = ""
        for name, start in starts.items():  # one at a time: counts need no quiet machine
            with contender(start) as running:
                token = token or login(running.server.base_url, "reader").access_token
                mine = [s for s in shapes if name != "ref" or s in REFERENCE_SHAPES]
                for shape in mine:  # warm up everything before instrumenting anything
                    running.client.send(ab.target(shape, token), WARM_UP)
                for shape in mine:
                    requests = max(args.requests // 10, 10) if shape == "login" else args.requests
                    taken = [
                        running.count(ab.target(shape, token), requests) for _ in range(args.repeat)
                    ]
                    counts[name, shape] = Count(
                        statistics.median(c.event_loop for c in taken),
                        statistics.median(c.total for c in taken),
                    )
                    print(
                        f"  {shape:<8} {name:<4} event loop "
                        + ", ".join(f"{c.event_loop:,.0f}" for c in taken)
                        + " instructions a request",
                        file=sys.stderr,
                    )
    for shape in shapes:
        base, head = counts["base", shape], counts["head", shape]
        line = (
            f"{shape}: event loop, instructions a request: base {base.event_loop:,.0f}, "
            f"working tree {head.event_loop:,.0f} (x{head.event_loop / base.event_loop:.4f})"
        )
        if ("ref", shape) in counts:
            ref = counts["ref", shape]
            line += (
                f", reference {ref.event_loop:,.0f} (working tree over it "
                f"x{head.event_loop / ref.event_loop:.3f})"
            )
        line += f"; all threads: base {base.total:,.0f}, working tree {head.total:,.0f}"
        print(line)


if __name__ == "__main__":
    main()
