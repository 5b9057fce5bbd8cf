"""What the revocation check costs, and how fast a revocation bites.

    python -m bench.revocation ab      # GET /identify/me and GET /notes, check on vs off
    python -m bench.revocation delay   # 100 logouts, 2 workers: delay until refused

`ab` serves the same build twice on one database, side by side in one run:
once as shipped, once with the bearer dependency replaced by a plain decode
(no revocation check at all), and alternates the two round by round.

`delay` runs `notes-api serve --workers 2`, and for each of `--count` logins
logs out and then asks `GET /identify/me` with the session's access token over
a new connection each time (so both workers answer, at random) until
`--streak` answers in a row are 401. The delay is from the logout's answer
to the last answer that still accepted the token (0 if none did).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.security import OAuth2PasswordBearer

from bench import seed, servers
from bench.loadgen import choose_tool
from bench.run import add_load_arguments, alternating_rounds, login, write_json


def app_with_check() -> FastAPI:
    from notes_api.main import create_app

    return create_app()


def app_without_check() -> FastAPI:
    """The same app, its bearer dependency a plain decode: what the check is measured against."""
    from notes_api.auth.dependencies import get_token_data, invalid_token, not_authenticated
    from notes_api.auth.tokens import InvalidTokenError, TokenData
    from notes_api.dependencies import Codec

    app = app_with_check()
    scheme = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)

    async def decode_only(token: Annotated[str | None, Depends(scheme)], codec: Codec) -> TokenData:
        if token is None:
            raise not_authenticated()
        try:
            return codec.decode(token)
        except InvalidTokenError:
            raise invalid_token() from None

    app.dependency_overrides[get_token_data] = decode_only
    return app


@contextmanager
def factory_server(
    database_url: str, factory: str, env: dict[str, str] | None = None
) -> Iterator[servers.Server]:
    """One uvicorn worker serving `factory` (a function of this module, or `module:function`)."""
    port = servers.free_port()
    target = factory if ":" in factory else f"bench.revocation:{factory}"
    command = [
        sys.executable, "-m", "uvicorn", "--factory", target,
        "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env={**servers.server_env(database_url), **(env or {})}, cwd=servers.REPO_ROOT
    )
    server = servers.Server(factory, f"http://127.0.0.1:{port}", process)
    try:
        servers._wait_ready(server, "/readyz")
        yield server
    finally:
        servers._stop(server)


def ab(args: argparse.Namespace) -> dict[str, object]:
    tool = choose_tool(args.loadgen)
    url = seed.seeded(args.database_url)
    results: dict[str, object] = {}
    with ExitStack() as stack:
        pair = {
            "on": stack.enter_context(factory_server(url, "app_with_check")),
            "off": stack.enter_context(factory_server(url, "app_without_check")),
        }
        for shape, path in (("me", "/identify/me"), ("notes", "/notes?limit=20")):
            summary = alternating_rounds(tool, pair, path, args)
            on, off = summary["on"], summary["off"]
            ratio = on["rps"] / off["rps"]
            print(
                f"{shape}: check on {on['rps']:.1f} req/s p99 {on['p99_ms']:.2f} ms | "
                f"off {off['rps']:.1f} req/s p99 {off['p99_ms']:.2f} ms | on/off x{ratio:.3f} "
                f"(errors {on['errors']}/{off['errors']})"
            )
            results[shape] = {"on": on, "off": off, "ratio": round(ratio, 3)}
    return results


def _get(host: str, port: int, path: str, token: str) -> int:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        return connection.getresponse().status
    finally:
        connection.close()


def _post(base_url: str, path: str, form: dict[str, str]) -> dict[str, object]:
    parts = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        body = urllib.parse.urlencode(form)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        connection.request("POST", path, body=body, headers=headers)
        answer = connection.getresponse()
        payload: dict[str, object] = json.loads(answer.read())
        assert answer.status == 200, payload  # noqa: S101
        return payload
    finally:
        connection.close()


def delay(args: argparse.Namespace) -> dict[str, object]:
    url = seed.sqlalchemy_url(args.database_url)
    seed.prepare(url)
    delays: list[float] = []
    with servers.notes_api(url, workers=2) as server:
        parts = urllib.parse.urlsplit(server.base_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        for _ in range(args.count):
            session = login(server.base_url, "reader")
            assert _get(host, port, "/identify/me", session.access_token) == 200  # noqa: S101
            _post(server.base_url, "/token/revoke", {"token": session.refresh_token})
            revoked_at = time.perf_counter()
            last_accepted, streak = revoked_at, 0
            while streak < args.streak:
                status = _get(host, port, "/identify/me", session.access_token)
                if status == 401:
                    streak += 1
                else:
                    streak, last_accepted = 0, time.perf_counter()
            delays.append(last_accepted - revoked_at)
    delays.sort()
    summary = {
        "count": len(delays),
        "p50_ms": round(1000 * statistics.median(delays), 1),
        "p99_ms": round(1000 * delays[min(len(delays) - 1, int(0.99 * len(delays)))], 1),
        "max_ms": round(1000 * delays[-1], 1),
    }
    print(
        f"revocation delay over {summary['count']} logouts, 2 workers: p50 "
        f"{summary['p50_ms']} ms, p99 {summary['p99_ms']} ms, max {summary['max_ms']} ms"
    )
    return summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.revocation", description=__doc__)
    parser.add_argument("what", choices=("ab", "delay", "all"))
    add_load_arguments(parser)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--streak", type=int, default=20)
    parser.add_argument("--json", help="write the results to this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    results: dict[str, object] = {}
    if args.what in ("ab", "all"):
        results["ab"] = ab(args)
    if args.what in ("delay", "all"):
        results["delay"] = delay(args)
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
