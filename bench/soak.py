"""The soak run: mixed traffic at moderate concurrency for minutes, against PostgreSQL.

Each virtual user is one client with its own login: it lists, creates, reads,
updates and deletes its notes, refreshes its token pair (serially, as the
contract asks of clients), asks who it is, and now and then logs in again.
One of them is an administrator who also grants and revokes a role and lists
users. A client whose role the administrator took away after it got its tokens
finds its access token refused (401) and, as the web page does, refreshes and
asks again: that is counted as a re-authentication; a 401 without such a
revocation, or a second refusal, is an error. The users share one address, and
a login refused with 429 (more logins of the address in flight than it may
have; its Retry-After is 1) is tried again a second later. Any other answer
than the expected status, and any broken connection, is an error. Every window
reports the request count, errors, p50/p99 and the server's resident memory.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen import HttpConnection, HttpError, percentile
from bench.seed import PASSWORD, BenchUsers
from bench.servers import Server

SOAK_ROLE = "soak"
THINK_SECONDS = 0.01
"""Each virtual user pauses up to this long between requests: busy, not a flood."""
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


@dataclass
class Window:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


@dataclass
class Stats:
    window: Window = field(default_factory=Window)
    requests: int = 0
    errors: int = 0
    reauthenticated: int = 0
    """401s answered by a refresh and a retry: the access token predated a role's revocation."""
    throttled: int = 0
    """Logins refused with 429 and tried again a second later."""
    role_taken_at: dict[int, float] = field(default_factory=dict)
    """User id -> when the administrator's last revocation of a role from them was answered."""
    roles_being_taken: set[int] = field(default_factory=set)
    """Users the administrator is taking a role from right now."""
    samples: list[dict[str, Any]] = field(default_factory=list)
    by_operation: dict[str, int] = field(default_factory=dict)


class Client:
    def __init__(
        self,
        server: Server,
        username: str,
        stats: Stats,
        rng: random.Random,
        user_id: int | None = None,
    ) -> None:
        url = urllib.parse.urlsplit(server.base_url)
        self.connection = HttpConnection(url.hostname or "127.0.0.1", url.port or 80)
        self.username = username
        self.user_id = user_id
        self.stats = stats
        self.rng = rng
        self.access = ""
        self.refresh = ""
        self.tokens_asked_at = 0.0
        """When the login or refresh that gave the current tokens was sent: their `iat` is later."""
        self.notes: list[int] = []

    def role_taken_since_tokens(self) -> bool:
        """Whether the administrator is taking a role from this user, or took one after the
        current tokens were asked for: only then may they be refused (the revocation bites
        at its commit, which can reach this client before the administrator's answer does)."""
        if self.user_id is None:
            return False
        if self.user_id in self.stats.roles_being_taken:
            return True
        taken_at = self.stats.role_taken_at.get(self.user_id)
        return taken_at is not None and taken_at > self.tokens_asked_at

    async def call(
        self,
        operation: str,
        method: str,
        path: str,
        expected: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        auth: bool = True,
        retry: bool = True,
    ) -> Any:
        sent = dict(headers or {})
        if auth:
            sent["Authorization"] = f"Bearer {self.access}"
        started = time.perf_counter()
        try:
            status, data = await self.connection.request(method, path, sent, body)
        except (HttpError, OSError) as exc:
            status, data = 0, str(exc).encode()
        elapsed = time.perf_counter() - started
        stats = self.stats
        stats.requests += 1
        stats.by_operation[operation] = stats.by_operation.get(operation, 0) + 1
        stats.window.latencies.append(elapsed)
        if status == 429 and operation == "login" and retry:
            # All the soak's users share one address, like an office behind NAT: a burst of
            # more logins at once than the address may have in flight (8) is refused with
            # Retry-After: 1, and a client waits that long and tries again.
            stats.throttled += 1
            await asyncio.sleep(1)
            return await self.call(operation, method, path, expected, body, headers, auth, False)
        if status == 401 and auth and retry and self.role_taken_since_tokens():
            # The admin took a role from this user: its access tokens are refused until
            # the next refresh brings the new roles (README, "Sessions and revocation"),
            # and a client does what the web page does: refresh, then ask again. A 401
            # without such a revocation is an error.
            stats.reauthenticated += 1
            await self.refresh_tokens()
            return await self.call(operation, method, path, expected, body, headers, retry=False)
        if status != expected:
            stats.errors += 1
            stats.window.errors += 1
            if len(stats.samples) < 20:
                stats.samples.append(
                    {"operation": operation, "status": status, "body": data[:300].decode("latin-1")}
                )
            return None
        return json.loads(data) if data else {}

    async def login(self) -> None:
        form = urllib.parse.urlencode({"username": self.username, "password": PASSWORD})
        asked_at = time.perf_counter()
        answer = await self.call("login", "POST", "/token", 200, form.encode(), FORM, auth=False)
        if answer:
            self.access, self.refresh = answer["access_token"], answer["refresh_token"]
            self.tokens_asked_at = asked_at

    async def refresh_tokens(self) -> None:
        form = urllib.parse.urlencode(
            {"grant_type": "refresh_token", "refresh_token": self.refresh}
        )
        asked_at = time.perf_counter()
        answer = await self.call("refresh", "POST", "/token", 200, form.encode(), FORM, auth=False)
        if answer:
            self.access, self.refresh = answer["access_token"], answer["refresh_token"]
            self.tokens_asked_at = asked_at
        else:
            await self.login()

    async def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.35:
            page = await self.call("list", "GET", "/notes?limit=20", 200)
            if page and page["next_cursor"] and self.rng.random() < 0.3:
                await self.call("list", "GET", f"/notes?limit=20&cursor={page['next_cursor']}", 200)
        elif roll < 0.50:
            note = json.dumps({"title": "soak note", "body": "x" * self.rng.randint(0, 2000)})
            created = await self.call("create", "POST", "/notes", 201, note.encode(), JSON)
            if created:
                self.notes.append(created["id"])
        elif roll < 0.60 and self.notes:
            await self.call("read", "GET", f"/notes/{self.rng.choice(self.notes)}", 200)
        elif roll < 0.70 and self.notes:
            change = json.dumps({"title": f"edited {self.rng.randint(0, 10**6)}"}).encode()
            note_id = self.rng.choice(self.notes)
            await self.call("update", "PATCH", f"/notes/{note_id}", 200, change, JSON)
        elif roll < 0.78 and self.notes:
            note_id = self.notes.pop(self.rng.randrange(len(self.notes)))
            await self.call("delete", "DELETE", f"/notes/{note_id}", 204)
        elif roll < 0.90:
            await self.refresh_tokens()
        elif roll < 0.97:
            await self.call("me", "GET", "/identify/me", 200)
        else:
            await self.login()


class Admin(Client):
    def __init__(self, *args: Any, user_ids: list[int]) -> None:
        super().__init__(*args)
        self.user_ids = user_ids

    async def step(self) -> None:
        roll = self.rng.random()
        user_id = self.rng.choice(self.user_ids)
        if roll < 0.3:
            await self.call("grant", "PUT", f"/users/{user_id}/roles/{SOAK_ROLE}", 204)
        elif roll < 0.6:
            self.stats.roles_being_taken.add(user_id)
            try:
                await self.call("revoke", "DELETE", f"/users/{user_id}/roles/{SOAK_ROLE}", 204)
            finally:
                self.stats.roles_being_taken.discard(user_id)
                self.stats.role_taken_at[user_id] = time.perf_counter()
        elif roll < 0.7:
            await self.call("users", "GET", "/users?limit=20", 200)
        else:
            await super().step()


async def _soak(
    server: Server, users: BenchUsers, duration: float, connections: int
) -> dict[str, Any]:
    stats = Stats()
    rng = random.Random(20240601)  # a reproducible traffic mix, not security
    admin = Admin(server, "benchadmin", stats, random.Random(rng.random()), user_ids=users.soak)
    await admin.login()
    role = json.dumps({"name": SOAK_ROLE, "description": "granted and revoked by the soak run"})
    await admin.connection.request(
        "POST", "/roles", {"Authorization": f"Bearer {admin.access}", **JSON}, role.encode()
    )
    clients: list[Client] = [admin]
    for index in range(connections - 1):
        number = index % len(users.soak)
        client = Client(
            server, f"soak{number:02d}", stats, random.Random(rng.random()), users.soak[number]
        )
        await client.login()
        clients.append(client)
    stats.window = Window()

    window_seconds = max(2.0, min(10.0, duration / 30))
    windows: list[dict[str, Any]] = []
    rss_start = server.rss_mib()
    began = time.perf_counter()
    deadline = began + duration

    async def run_client(client: Client) -> None:
        while time.perf_counter() < deadline:
            await client.step()
            await asyncio.sleep(client.rng.random() * THINK_SECONDS)
        await client.connection.close()

    async def watch() -> None:
        next_tick = began + window_seconds
        while True:
            await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
            window, stats.window = stats.window, Window()
            ordered = sorted(window.latencies)
            elapsed = time.perf_counter() - began
            windows.append(
                {
                    "t_s": round(elapsed, 1),
                    "requests": len(ordered),
                    "rps": len(ordered) / window_seconds,
                    "errors": window.errors,
                    "p50_ms": percentile(ordered, 50) * 1000,
                    "p99_ms": percentile(ordered, 99) * 1000,
                    "rss_mib": round(server.rss_mib(), 1),
                }
            )
            w = windows[-1]
            print(
                f"  soak {w['t_s']:>6.0f} s  {w['rps']:7.1f} req/s  p50 {w['p50_ms']:6.2f} ms  "
                f"p99 {w['p99_ms']:7.2f} ms  errors {w['errors']}  RSS {w['rss_mib']} MiB",
                file=sys.stderr,
                flush=True,
            )
            if next_tick >= deadline:
                return
            next_tick += window_seconds

    watcher = asyncio.create_task(watch())
    await asyncio.gather(*(run_client(client) for client in clients))
    await watcher
    return {
        "duration_s": time.perf_counter() - began,
        "connections": connections,
        "requests": stats.requests,
        "errors": stats.errors,
        "reauthenticated": stats.reauthenticated,
        "throttled_logins_retried": stats.throttled,
        "error_samples": stats.samples,
        "by_operation": stats.by_operation,
        "windows": windows,
        "rss_start_mib": round(rss_start, 1),
        "rss_end_mib": round(server.rss_mib(), 1),
    }


def run(server: Server, users: BenchUsers, duration: float, connections: int) -> dict[str, Any]:
    print(f"soak: {duration:.0f} s at {connections} connections", file=sys.stderr)
    return asyncio.run(_soak(server, users, duration, connections))
