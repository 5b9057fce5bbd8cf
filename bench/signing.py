"""GET /identify/me by credential: HS256, EdDSA and ES256 access tokens, and a personal token.

    python -m bench.signing [--duration 5] [--rounds 3] [--connections 32]

Three servers (one uvicorn worker each) serve the same seeded database, signing
with HS256, EdDSA (Ed25519) and ES256 (P-256); the fourth shape is a personal
access token on the HS256 server, which costs one indexed query per request
instead of a signature check. The shapes take turns round by round, so a noisy
neighbour slows all of them alike; medians, CPU per request, and every shape's
ratio to HS256 are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import report, seed, servers
from bench.loadgen import LoadResult, Target, choose_tool, run_load
from bench.run import add_load_arguments, login, median_of
from notes_api.auth.keys import generate_private_key, private_key_pem

ALGORITHMS = ("HS256", "EdDSA", "ES256")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.signing", description=__doc__)
    add_load_arguments(parser)
    return parser.parse_args(argv)


def key_env(algorithm: str, directory: Path) -> dict[str, str]:
    if algorithm.startswith("HS"):
        return {}
    path = directory / f"{algorithm}.pem"
    path.write_bytes(private_key_pem(generate_private_key(algorithm)))
    path.chmod(0o600)
    return {"JWT_ALGORITHM": algorithm, "JWT_PRIVATE_KEY_FILE": str(path)}


def personal_token(base_url: str) -> str:
    session = login(base_url, "reader")
    request = urllib.request.Request(  # noqa: S310 - the local server under test
        f"{base_url}/account/tokens",
        data=json.dumps({"name": "bench"}).encode(),
        headers={
            "Authorization": f"Bearer {session.access_token}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        token: str = json.load(answer)["token"]
        return token


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    tool = choose_tool(args.loadgen)
    url = seed.seeded(args.database_url)
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-keys-")))
        running = {
            algorithm: stack.enter_context(
                servers.notes_api(url, extra_env=key_env(algorithm, directory))
            )
            for algorithm in ALGORITHMS
        }
        shapes: dict[str, tuple[servers.Server, Target]] = {}
        for algorithm, server in running.items():
            token = login(server.base_url, "reader").access_token
            headers = {"Authorization": f"Bearer {token}"}
            shapes[algorithm] = (server, Target("GET", "/identify/me", headers))
        hs = running["HS256"]
        pat = {"Authorization": f"Bearer {personal_token(hs.base_url)}"}
        shapes["personal token"] = (hs, Target("GET", "/identify/me", pat))

        for server, target in shapes.values():  # warm up
            run_load(tool, server.base_url, target, args.connections, 1)
        runs: dict[str, list[LoadResult]] = {name: [] for name in shapes}
        cpu: dict[str, list[float]] = {name: [] for name in shapes}
        for _ in range(args.rounds):
            for name, (server, target) in shapes.items():
                before = server.cpu_seconds()
                result = run_load(tool, server.base_url, target, args.connections, args.duration)
                cpu[name].append(1000 * (server.cpu_seconds() - before) / max(result.requests, 1))
                print(f"  {name:<15} {report.row(result)}", file=sys.stderr)
                runs[name].append(result)

    medians: dict[str, dict[str, Any]] = {name: median_of(runs[name]) for name in shapes}
    base_rps = medians["HS256"]["rps"]
    base_cpu = statistics.median(cpu["HS256"])
    print(f"GET /identify/me, {args.connections} connections, {tool}, median of {args.rounds}:")
    for name, result in medians.items():
        cpu_ms = statistics.median(cpu[name])
        print(
            f"  {name:<15} {result['rps']:8.1f} req/s  p50 {result['p50_ms']:6.2f} ms  "
            f"p99 {result['p99_ms']:6.2f} ms  CPU {cpu_ms:.3f} ms/req  "
            f"req/s x{result['rps'] / base_rps:.2f} of HS256, CPU/req x{cpu_ms / base_cpu:.2f}"
            f"  (errors {result['errors']})"
        )


if __name__ == "__main__":
    main()
