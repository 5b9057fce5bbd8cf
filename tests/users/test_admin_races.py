"""The administrators' writes that lose a race to a concurrent one, made deterministic on
PostgreSQL: a second connection holds the conflicting row uncommitted, so the request's
checks pass and its write waits on the row; the row is then committed, and the write fails
on the unique constraint. (SQLite serializes whole transactions: no such race exists there.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, delete, insert, select

from notes_api.users.models import Role, User, user_roles
from tests.conftest import MakeUser, bearer, login
from tests.databases import POSTGRES_URL
from tests.sessions.waiting import eventually, requests_waiting_on_a_lock

pytestmark = [
    pytest.mark.skipif(POSTGRES_URL is None, reason="needs TEST_DATABASE_URL"),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


@contextmanager
def beaten_to_it(
    db_engine: Engine, write: Callable[[Connection], Any], request: Callable[[], httpx2.Response]
) -> Iterator[Future[httpx2.Response]]:
    """Run `request` while another transaction has made `write`, uncommitted; commit that
    once the request waits on it. Yields the request's answer to come."""
    with db_engine.connect() as rival, ThreadPoolExecutor(max_workers=1) as pool:
        with rival.begin():
            write(rival)
            answer = pool.submit(request)
            # Done already: it did not wait (a failure the caller's assertions show).
            assert eventually(lambda: answer.done() or requests_waiting_on_a_lock(db_engine) == 1)
        yield answer


@pytest.fixture
def admin(client: TestClient, make_user: MakeUser) -> dict[str, str]:
    make_user("root", roles=["admin"])
    return bearer(login(client, "root")["access_token"])


def test_a_role_created_concurrently_makes_the_create_409_naming_it(
    client: TestClient, admin: dict[str, str], db_engine: Engine
) -> None:
    def create_racer(connection: Connection) -> None:
        connection.execute(insert(Role).values(name="racer", description=""))

    def create() -> httpx2.Response:
        return client.post("/roles", headers=admin, json={"name": "racer"})

    with beaten_to_it(db_engine, create_racer, create) as answer:
        response = answer.result(timeout=30)

    assert response.status_code == 409
    assert response.json() == {"detail": "Role 'racer' already exists"}


def test_an_email_taken_concurrently_makes_the_update_409_saying_so(
    client: TestClient, admin: dict[str, str], make_user: MakeUser, db_engine: Engine
) -> None:
    target, rival_user = make_user("target"), make_user("rival")

    def take_email(connection: Connection) -> None:
        connection.execute(
            User.__table__.update()
            .where(User.id == rival_user.id)
            .values(email="racer@example.com")
        )

    def update() -> httpx2.Response:
        return client.patch(
            f"/users/{target.id}", headers=admin, json={"email": "racer@example.com"}
        )

    with beaten_to_it(db_engine, take_email, update) as answer:
        response = answer.result(timeout=30)

    assert response.status_code == 409
    assert response.json() == {"detail": "Email is already taken"}
    assert client.get(f"/users/{target.id}", headers=admin).json()["email"] is None


def test_a_role_granted_concurrently_makes_the_grant_204(
    client: TestClient, admin: dict[str, str], make_user: MakeUser, db_engine: Engine
) -> None:
    user = make_user("grantee", roles=["user"])

    def grant_metrics(connection: Connection) -> None:
        role_id = connection.scalar(select(Role.id).where(Role.name == "metrics"))
        connection.execute(insert(user_roles).values(user_id=user.id, role_id=role_id))

    def grant() -> httpx2.Response:
        return client.put(f"/users/{user.id}/roles/metrics", headers=admin)

    with beaten_to_it(db_engine, grant_metrics, grant) as answer:
        response = answer.result(timeout=30)

    assert response.status_code == 204, response.text
    assert client.get(f"/users/{user.id}", headers=admin).json()["roles"] == ["metrics", "user"]


def test_a_revoke_waits_for_a_concurrent_revoke_and_then_refuses_the_last_admin(
    client: TestClient, make_user: MakeUser, db_engine: Engine
) -> None:
    """Ann and Ben, both admins, revoke each other. Ben's revoke holds the lock on the admin
    role, as the last-admin check takes it, and has deleted Ann's grant, uncommitted; Ann's
    revoke waits for it, then counts Ben alone and is refused."""
    ann, ben = make_user("ann", roles=["admin"]), make_user("ben", roles=["admin"])
    headers = bearer(login(client, "ann")["access_token"])

    def ben_revokes_ann(connection: Connection) -> None:
        admin_id = connection.scalar(select(Role.id).where(Role.name == "admin").with_for_update())
        connection.execute(
            delete(user_roles).where(
                user_roles.c.user_id == ann.id, user_roles.c.role_id == admin_id
            )
        )

    def ann_revokes_ben() -> httpx2.Response:
        return client.delete(f"/users/{ben.id}/roles/admin", headers=headers)

    with beaten_to_it(db_engine, ben_revokes_ann, ann_revokes_ben) as answer:
        response = answer.result(timeout=30)

    assert response.status_code == 409
    assert response.json() == {
        "detail": "The last enabled administrator must stay an enabled administrator"
    }
    with db_engine.connect() as connection:
        admins = connection.scalars(
            select(user_roles.c.user_id).join(Role).where(Role.name == "admin")
        )
        assert list(admins) == [ben.id]
