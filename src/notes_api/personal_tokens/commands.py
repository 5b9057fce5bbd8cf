"""`notes-api create-token USERNAME --name N [--roles ...] [--expires-in-days D]`.

How an operator gives a script its credential (Prometheus, a backup job):
the token goes alone to standard output, once, so it can be piped into a
secret store; what it is goes to standard error.
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api.actor import COMMAND_LINE
from notes_api.auth.tokens import TokenData, split_roles
from notes_api.command_line import fail, first_error, load_settings, run_with_session
from notes_api.personal_tokens import service
from notes_api.personal_tokens.schemas import DEFAULT_LIFETIME_DAYS, PersonalTokenCreate
from notes_api.users.service import get_user_by_username


def create_token(
    username: str,
    name: Annotated[str, typer.Option(help="What the token is for, e.g. prometheus")],
    roles: Annotated[
        str | None,
        typer.Option(help="Comma-separated subset of the user's roles [default: all of them]"),
    ] = None,
    expires_in_days: Annotated[int, typer.Option(help="1 to 365 days")] = DEFAULT_LIFETIME_DAYS,
) -> None:
    """Create a personal access token for USERNAME and print it (once)."""
    try:
        payload = PersonalTokenCreate(
            name=name,
            roles=None if roles is None else split_roles(roles),
            expires_in_days=expires_in_days,
        )
    except ValidationError as exc:
        raise fail(first_error(exc)) from None
    # No second factor on a shell: roles of MFA_REQUIRED_ROLES are refused here as they
    # are to an access token without `otp`.
    mfa_required = frozenset(load_settings().mfa_required_roles)

    async def work(db: AsyncSession) -> tuple[str, list[str], str]:
        user = await get_user_by_username(db, username)
        if user.disabled:
            raise fail(f"user {username} is disabled")
        caller = TokenData(id=user.id, username=user.username, roles=user.role_names)
        row, token = await service.create_token(db, COMMAND_LINE, caller, payload, mfa_required)
        return token, split_roles(row.roles), row.expires_at.isoformat()

    token, granted, expires_at = run_with_session(work)
    typer.echo(
        f"personal access token {name!r} for {username}, roles: {','.join(granted) or '(none)'}, "
        f"expires {expires_at} (shown once)",
        err=True,
    )
    typer.echo(token)
