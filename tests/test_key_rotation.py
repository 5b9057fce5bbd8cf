"""docs/keys.md's rotation, step by step, on two server processes while a client keeps calling.

The client stands for the traffic behind a load balancer: it logs in, refreshes
and calls `GET /identify/me` on both instances with each new access token,
whichever instance issued it, and moves to the other instance while one
restarts. Not one call may be refused while the keys change.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from notes_api.auth.keys import generate_private_key, private_key_pem, thumbprint
from tests.conftest import DEFAULT_PASSWORD, MakeUser
from tests.servers import NOTES_API, running_server


@dataclass
class Fleet:
    """Two instances; `restart` replaces one, with new key settings, as a rolling restart does."""

    base_env: dict[str, str]
    urls: list[str] = field(default_factory=lambda: ["", ""])
    stacks: list[ExitStack] = field(default_factory=lambda: [ExitStack(), ExitStack()])
    lock: threading.Lock = field(default_factory=threading.Lock)

    def restart(self, index: int, signing: Path, published: list[Path]) -> None:
        env = {
            **self.base_env,
            "JWT_PRIVATE_KEY_FILE": str(signing),
            "JWT_PUBLISHED_KEY_FILES": ",".join(str(path) for path in published),
        }
        with self.lock:
            self.urls[index] = ""  # the load balancer stops sending it traffic
        self.stacks[index].close()
        self.stacks[index] = ExitStack()
        url = self.stacks[index].enter_context(running_server(env))
        with self.lock:
            self.urls[index] = url

    def live(self) -> list[str]:
        with self.lock:
            return [url for url in self.urls if url]

    def close(self) -> None:
        for stack in self.stacks:
            stack.close()


@dataclass
class Traffic:
    """A client that keeps logging in, refreshing and calling, noting every refusal."""

    fleet: Fleet
    username: str
    stop: threading.Event = field(default_factory=threading.Event)
    refused: list[str] = field(default_factory=list)
    calls: int = 0
    kids: set[str] = field(default_factory=set)

    def run(self) -> None:
        refresh_token = None
        turn = 0
        with httpx2.Client(timeout=10) as client:
            while not self.stop.is_set():
                live = self.fleet.live()
                if not live:
                    time.sleep(0.05)
                    continue
                issuer = live[turn % len(live)]
                turn += 1
                try:
                    form = (
                        {"grant_type": "refresh_token", "refresh_token": refresh_token}
                        if refresh_token
                        else {"username": self.username, "password": DEFAULT_PASSWORD}
                    )
                    answer = client.post(f"{issuer}/token", data=form)
                except httpx2.TransportError:
                    refresh_token = None  # the answer may be lost: log in again, never reuse
                    continue
                if answer.status_code != 200:
                    self.refused.append(f"{issuer}/token {answer.status_code} {answer.text}")
                    refresh_token = None
                    continue
                pair = answer.json()
                refresh_token = pair["refresh_token"]
                self.kids.add(jwt.get_unverified_header(pair["access_token"])["kid"])
                self.call_everyone(client, pair["access_token"])

    def wait_for_calls(self, count: int) -> None:
        target, deadline = self.calls + count, time.monotonic() + 60
        while self.calls < target and time.monotonic() < deadline and not self.refused:
            time.sleep(0.05)

    def call_everyone(self, client: httpx2.Client, access_token: str) -> None:
        for url in self.fleet.live():
            try:
                me = client.get(
                    f"{url}/identify/me", headers={"Authorization": f"Bearer {access_token}"}
                )
            except httpx2.TransportError:
                continue  # restarting: the load balancer would have sent it elsewhere
            self.calls += 1
            if me.status_code != 200:
                self.refused.append(f"{url}/identify/me {me.status_code}")


def key(path: Path) -> Path:
    path.write_bytes(private_key_pem(generate_private_key("EdDSA")))
    path.chmod(0o600)
    return path


def kid_of(path: Path) -> str:
    private = load_pem_private_key(path.read_bytes(), password=None)
    return thumbprint(private.public_key())  # type: ignore[arg-type]


@pytest.fixture
def fleet(database_url: str) -> Iterator[Fleet]:
    env = {"DATABASE_URL": database_url, "APP_ENV": "development", "JWT_ALGORITHM": "EdDSA"}
    fleet = Fleet(base_env=env)
    try:
        yield fleet
    finally:
        fleet.close()


def test_rotation_refuses_no_call_and_retires_the_old_key(
    fleet: Fleet, make_user: MakeUser, tmp_path: Path
) -> None:
    old, new = key(tmp_path / "jwt-1.pem"), key(tmp_path / "jwt-2.pem")
    new_public = tmp_path / "jwt-2.pub.pem"  # 1. the next key; its public half, to publish
    public = subprocess.run(
        [NOTES_API, "keys", "public", str(new)], check=True, capture_output=True
    )
    new_public.write_bytes(public.stdout)
    user = make_user()
    for index in (0, 1):
        fleet.restart(index, old, [])
    first = httpx2.post(
        f"{fleet.live()[0]}/token", data={"username": user.username, "password": DEFAULT_PASSWORD}
    ).json()["access_token"]
    traffic = Traffic(fleet, user.username)
    thread = threading.Thread(target=traffic.run, daemon=True)
    thread.start()
    try:
        for signing, published in (
            (old, [new_public]),  # 2. publish the next key everywhere
            (new, [old]),  # 4. sign with it; the old one stays published
        ):
            for index in (0, 1):  # rolling: one instance at a time, traffic in between
                fleet.restart(index, signing, published)
                traffic.wait_for_calls(4)
        # 5. (the wait) since the last restart the client has refreshed: it holds no token
        # of the old key any more, as no client does ACCESS_TOKEN_EXPIRE_MINUTES later
        for index in (0, 1):
            fleet.restart(index, new, [])  # 6. retire the old key
            traffic.wait_for_calls(4)
    finally:
        traffic.stop.set()
        thread.join(timeout=30)

    assert traffic.refused == []
    assert traffic.kids == {kid_of(old), kid_of(new)}
    for url in fleet.live():
        jwks = httpx2.get(f"{url}/.well-known/jwks.json").json()
        assert [item["kid"] for item in jwks["keys"]] == [kid_of(new)]
        refused = httpx2.get(f"{url}/identify/me", headers={"Authorization": f"Bearer {first}"})
        assert refused.status_code == 401
