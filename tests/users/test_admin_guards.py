"""The administrators' guards, each tested where no other rule would give the same answer."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from notes_api.actor import Actor
from notes_api.admin import service
from notes_api.database import create_app_engine, create_session_factory
from notes_api.exceptions import ForbiddenError
from notes_api.users.models import User
from notes_api.users.schemas import UserUpdate
from tests.conftest import MakeUser, bearer, login, refresh_status


def test_an_admin_cannot_disable_themself_even_with_another_admin_left(
    client: TestClient, make_user: MakeUser
) -> None:
    """Not the last-admin rule: a second enabled admin exists, so only the self-guard refuses."""
    me = make_user("root", roles=["admin"])
    make_user("deputy", roles=["admin"])
    headers = bearer(login(client, "root")["access_token"])

    response = client.patch(f"/users/{me.id}", headers=headers, json={"disabled": True})

    assert response.status_code == 409
    assert response.json() == {"detail": "Administrators cannot disable themselves"}
    assert client.get(f"/users/{me.id}", headers=headers).json()["disabled"] is False


def test_disabled_admins_do_not_count_toward_the_last_enabled_admin(
    client: TestClient, make_user: MakeUser
) -> None:
    """With the only other admin disabled, root is the last enabled one and keeps the role."""
    root = make_user("root", roles=["admin"])
    make_user("retired", roles=["admin"], disabled=True)
    headers = bearer(login(client, "root")["access_token"])

    response = client.delete(f"/users/{root.id}/roles/admin", headers=headers)

    assert response.status_code == 409
    roles = client.get(f"/users/{root.id}", headers=headers).json()["roles"]
    assert "admin" in roles


def test_other_roles_and_other_users_do_not_count_toward_the_last_enabled_admin(
    client: TestClient, make_user: MakeUser
) -> None:
    """Root, admin and user, is the only administrator among three enabled users."""
    root = make_user("root", roles=["admin", "user"])
    make_user("alice", roles=["user"])
    make_user("bob", roles=["user", "metrics"])
    headers = bearer(login(client, "root")["access_token"])

    response = client.delete(f"/users/{root.id}/roles/admin", headers=headers)

    assert response.status_code == 409
    assert client.get(f"/users/{root.id}", headers=headers).json()["roles"] == ["admin", "user"]


def test_disabling_one_user_leaves_other_users_refresh_tokens_alone(
    client: TestClient, make_user: MakeUser
) -> None:
    make_user("root", roles=["admin"])
    headers = bearer(login(client, "root")["access_token"])
    target = make_user("target")
    bystander = make_user("bystander")
    login(client, target.username)
    bystander_tokens = login(client, bystander.username)

    client.patch(f"/users/{target.id}", headers=headers, json={"disabled": True})

    assert refresh_status(client, bystander_tokens["refresh_token"]) == 200


def test_a_re_enabled_user_does_not_get_refresh_tokens_from_before_the_disable_back(
    client: TestClient, make_user: MakeUser
) -> None:
    """Rotation refuses disabled users anyway; the revocation shows once they are enabled again."""
    make_user("root", roles=["admin"])
    headers = bearer(login(client, "root")["access_token"])
    user = make_user("target")
    tokens = login(client, user.username)

    client.patch(f"/users/{user.id}", headers=headers, json={"disabled": True})
    client.patch(f"/users/{user.id}", headers=headers, json={"disabled": False})

    assert refresh_status(client, tokens["refresh_token"]) == 400
    assert login(client, user.username)["access_token"]


def test_nobody_may_enable_themselves(
    database_url: str, make_user: MakeUser, db_engine: Engine
) -> None:
    """Called on the service: over HTTP a disabled caller is refused first (401, the admin
    re-check), so only this reaches the rule that must hold for any caller that gets here."""
    me = make_user(roles=["admin"], disabled=True)
    changes = UserUpdate(disabled=False)

    async def enable_myself() -> None:
        engine = create_app_engine(database_url)
        try:
            async with create_session_factory(engine)() as db:
                await service.update_user(db, Actor(id=me.id, client_ip=None), me.id, changes)
        finally:
            await engine.dispose()

    with pytest.raises(ForbiddenError, match=r"^Nobody may enable themselves$"):
        asyncio.run(enable_myself())
    with db_engine.connect() as connection:
        assert connection.scalar(select(User.disabled).where(User.id == me.id)) is True
