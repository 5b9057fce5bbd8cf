"""`notes-api set-password` and `notes-api end-sessions`, checked over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from notes_api.audit.models import AuditEvent
from tests.accounts.test_account_api import audited, refused, works
from tests.conftest import Invoke, MakeUser, login
from tests.sessions.waiting import eventually

NEW_PASSWORD = "set from the shell"


def test_set_password_from_stdin_ends_every_session(
    invoke: Invoke,
    client: TestClient,
    make_user: MakeUser,
    db_engine: Engine,
) -> None:
    user = make_user()
    sessions = [login(client, user.username) for _ in range(2)]
    result = invoke("set-password", user.username, "--password-stdin", stdin=f"{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert result.output == f"password of {user.username} set; 2 session(s) ended\n"
    assert NEW_PASSWORD not in result.output
    assert eventually(lambda: all(refused(client, t) for t in sessions))
    login(client, user.username, NEW_PASSWORD)
    with db_engine.connect() as connection:
        event = connection.execute(
            select(AuditEvent).where(AuditEvent.action == "user.password_changed")
        ).one()
    assert event.actor_id is None  # the command line
    assert NEW_PASSWORD not in str(event.detail)


def test_set_password_refuses_a_weak_password_and_an_unknown_user(
    invoke: Invoke,
    client: TestClient,
    make_user: MakeUser,
) -> None:
    user = make_user()
    weak = invoke("set-password", user.username, "--password-stdin", stdin="short\n")
    assert weak.exit_code == 1
    assert "password" in weak.output
    login(client, user.username)  # unchanged
    unknown = invoke("set-password", "nobody", "--password-stdin", stdin=f"{NEW_PASSWORD}\n")
    assert unknown.exit_code == 1
    assert "No user named 'nobody'" in unknown.output


def test_end_sessions(
    invoke: Invoke,
    client: TestClient,
    make_user: MakeUser,
) -> None:
    user = make_user()
    sessions = [login(client, user.username) for _ in range(3)]
    bystander = login(client, make_user().username)
    result = invoke("end-sessions", user.username)
    assert result.exit_code == 0, result.output
    assert result.output == f"3 session(s) of {user.username} ended\n"
    assert eventually(lambda: all(refused(client, t) for t in sessions))
    assert works(client, bystander)
    login(client, user.username)  # the password still works: a new session
    [event] = audited(client, make_user, "sessions.ended")
    assert (event["actor_id"], event["target"], event["detail"]) == (
        None,  # the command line
        user.username,
        {"cause": "ended_by_admin", "sessions_ended": 3},
    )
