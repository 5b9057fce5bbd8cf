"""Where a request's time goes: py-spy samples a server under wrk load, summarised by function.

    python -m bench.profile --shape notes --shape reference --shape me --shape login

Each shape runs against a fresh server for `--duration` seconds while py-spy
samples the event-loop thread; the summary lists, per function, the share of
the event loop's samples in which it was on the stack (inclusive) or running
(self). docs/performance.md quotes these summaries.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from bench import seed, servers
from bench.loadgen import Target, choose_tool, run_load
from bench.run import DEFAULT_DATABASE_URL, login, logins_target

SHAPES = ("healthz", "me", "notes", "note", "reference", "login")
EVENT_LOOP_FRAME = "Runner.run"
"""Samples whose stack passes through asyncio's runner are the event-loop thread's."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--shape", action="append", choices=SHAPES, help="repeatable")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=40, help="functions listed per shape")
    parser.add_argument("--out", type=Path, help="also write the summaries to this file")
    return parser.parse_args(argv)


def _short(frame: str) -> str:
    name, _, location = frame.partition(" (")
    path = location.split(":")[0]
    return f"{name} ({'/'.join(path.split('/')[-2:])})" if location else name


def summarise(raw: Path, top: int) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if EVENT_LOOP_FRAME not in stack:
            continue
        n = int(count)
        total += n
        frames = [_short(frame) for frame in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    skip = ("Runner.", "run (", "main (", "serve (", "Typer", "Command", "Context", "<module>")
    lines = [f"event-loop samples: {total}", "inclusive:"]
    shown = [(f, n) for f, n in inclusive.most_common() if not f.startswith(skip)]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in shown[:top]]
    lines.append("self:")
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(15)]
    return "\n".join(lines)


def profile(server: servers.Server, target: Target, tool: str, args: argparse.Namespace) -> str:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    connections = 8 if target.path == "/token" else args.connections
    with tempfile.TemporaryDirectory() as directory:
        raw = Path(directory) / "profile.txt"
        outcome: dict[str, object] = {}
        load = threading.Thread(
            target=lambda: outcome.update(
                result=run_load(tool, server.base_url, target, connections, args.duration + 3)
            )
        )
        load.start()
        time.sleep(1.5)
        record = ["record", "-p", str(server.pid), "-d", str(int(args.duration))]
        subprocess.run(
            [py_spy, *record, "-r", "250", "-f", "raw", "-o", str(raw)],
            capture_output=True,
            check=True,
        )
        load.join()
        result = outcome["result"]
        return f"{result}\n{summarise(raw, args.top)}"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    tool = choose_tool("auto")
    url = seed.seeded(args.database_url)
    reports = []
    for shape in args.shape or ["notes"]:
        with ExitStack() as stack:
            app = stack.enter_context(servers.notes_api(url))
            token = login(app.base_url, "reader")
            auth = {"Authorization": f"Bearer {token.access_token}"}
            server = app
            if shape == "healthz":
                target = Target("GET", "/healthz")
            elif shape == "me":
                target = Target("GET", "/identify/me", auth)
            elif shape == "notes":
                target = Target("GET", "/notes?limit=20", auth)
            elif shape == "note":
                target = Target("GET", "/notes/2", auth)  # the reader's (seed: even ids)
            elif shape == "reference":
                server = stack.enter_context(servers.reference(url))
                target = Target("GET", "/notes?limit=20", auth)
            else:
                target = logins_target()
            run_load(tool, server.base_url, target, args.connections, 1)  # warm up
            text = f"== {shape} ==\n{profile(server, target, tool, args)}"
            print(text, flush=True)
            reports.append(text)
    if args.out:
        args.out.write_text("\n\n".join(reports) + "\n")


if __name__ == "__main__":
    main()
