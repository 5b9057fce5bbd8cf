"""`notes-api set-password` and `notes-api end-sessions`: the account commands of the CLI.

`cli.py` registers them with its own helpers (one database unit of work per
command, the password read as for `create-user`), so they run exactly the use
cases the HTTP API runs: a password set here ends the user's sessions as a
reset does, audited as done from the command line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.accounts import service
from notes_api.actor import COMMAND_LINE
from notes_api.sessions.session_store import EndCause
from notes_api.users.service import get_user_by_username
from notes_api.validation import Password

Runner = Callable[[Callable[[AsyncSession], Awaitable[Any]]], Any]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input")
]
_PASSWORD = TypeAdapter(Password)


def register(
    cli: typer.Typer,
    run: Runner,
    read_password: Callable[[bool], str],
    fail: Callable[[str], Exception],
) -> None:
    @cli.command("set-password")
    def set_password(username: str, password_stdin: PasswordStdin = False) -> None:
        """Set USERNAME's password (prompted for, or from stdin) and end all their sessions."""
        try:
            password = _PASSWORD.validate_python(read_password(password_stdin))
        except ValidationError as exc:
            raise fail(f"password: {exc.errors()[0]['msg']}") from None

        async def work(db: AsyncSession) -> int:
            user = await get_user_by_username(db, username)
            return await service.set_password(db, COMMAND_LINE, user.id, password)

        ended = run(work)
        typer.echo(f"password of {username} set; {ended} session(s) ended")

    @cli.command("end-sessions")
    def end_sessions(username: str) -> None:
        """End every session of USERNAME (their tokens are refused within a second)."""

        async def work(db: AsyncSession) -> int:
            user = await get_user_by_username(db, username)
            return await service.end_sessions(db, COMMAND_LINE, user.id, EndCause.ADMIN)

        ended = run(work)
        typer.echo(f"{ended} session(s) of {username} ended")
