"""Does `POST /account/password/forgot` take as long for a known account as for an unknown one?

Starts `notes-api serve` on DATABASE_URL (migrated; 200 users with addresses are
created, `reset-timing-*`), with an SMTP server (aiosmtpd) taking the mails, and
sends N requests naming known accounts and N naming unknown ones, alternated so
that background mail sending weighs on both alike. Each request comes from its
own address (X-Forwarded-For from the trusted loopback proxy) so that no
throttle answers instead. Prints the mean, standard deviation and quartiles of
each, in milliseconds, and Welch's t statistic.

    python -m bench.reset_timing --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx2
from sqlalchemy import create_engine, delete, insert, text

from notes_api.database import database_urls
from notes_api.schema_migrations import upgrade_to_head
from notes_api.users.models import User

SECRET = "reset-timing-secret-key-0123456789abcdef"  # noqa: S105 - a throwaway local key


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("-n", "--requests", type=int, default=200)
    parser.add_argument("--port", type=int, default=8931)
    parser.add_argument("--smtp-port", type=int, default=8925)
    return parser.parse_args(argv)


def seed(url: str, count: int) -> None:
    upgrade_to_head(url)
    engine = create_engine(database_urls(url).sync_url)
    with engine.begin() as connection:
        connection.execute(delete(User).where(User.username.like("reset-timing-%")))
        connection.execute(text("DELETE FROM password_reset_requests"))
        connection.execute(
            insert(User),
            [
                {
                    "username": f"reset-timing-{i}",
                    "email": f"reset-timing-{i}@mail.example",
                    "hashed_password": "x",
                }
                for i in range(count)
            ],
        )
    engine.dispose()


def summary(name: str, samples: list[float]) -> str:
    q1, median, q3 = statistics.quantiles(samples, n=4)
    return (
        f"{name:8} n={len(samples)} mean={statistics.mean(samples):.2f} ms "
        f"sd={statistics.stdev(samples):.2f} median={median:.2f} q1={q1:.2f} q3={q3:.2f}"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.database_url:
        sys.exit("--database-url or BENCH_DATABASE_URL is required")
    from aiosmtpd.controller import Controller  # dev extra

    class Sink:
        async def handle_DATA(self, *_: object) -> str:
            return "250 OK"

    seed(args.database_url, args.requests)
    smtp = Controller(Sink(), hostname="127.0.0.1", port=args.smtp_port)
    smtp.start()
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "JWT_SECRET_KEY": SECRET,
        "SMTP_URL": f"smtp://127.0.0.1:{args.smtp_port}",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("notes-api")), "serve", "--port", str(args.port)],
        env=env,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        with httpx2.Client(base_url=base, timeout=10) as client:
            for _ in range(300):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                time.sleep(0.1)
            for i in range(20):  # warm-up, not measured
                client.post(
                    "/account/password/forgot",
                    json={"email": f"warm{i}@x.example"},
                    headers={"X-Forwarded-For": f"10.9.0.{i}"},
                )
            known: list[float] = []
            unknown: list[float] = []
            for i in range(args.requests):
                for kind, samples in (("known", known), ("unknown", unknown)):
                    email = (
                        f"reset-timing-{i}@mail.example"
                        if kind == "known"
                        else f"nobody-{i}@mail.example"
                    )
                    address = f"10.{1 if kind == 'known' else 2}.{i // 250}.{i % 250}"
                    start = time.perf_counter()
                    response = client.post(
                        "/account/password/forgot",
                        json={"email": email},
                        headers={"X-Forwarded-For": address},
                    )
                    samples.append((time.perf_counter() - start) * 1000)
                    if response.status_code != 202:
                        raise SystemExit(
                            f"unexpected answer {response.status_code}: {response.text}"
                        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        smtp.stop()
    print(summary("known", known))
    print(summary("unknown", unknown))
    diff = statistics.mean(known) - statistics.mean(unknown)
    se = (
        statistics.variance(known) / len(known) + statistics.variance(unknown) / len(unknown)
    ) ** 0.5
    print(f"difference of means {diff:+.2f} ms, Welch t = {diff / se:+.2f}")


if __name__ == "__main__":
    main()
