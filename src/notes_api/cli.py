"""The `notes-api` command: serve, migrate, and manage users and roles from a shell.

User commands run the same service functions as the HTTP API (a user made here
hashes its password as login verifies it); account commands: accounts.commands.
"""

from __future__ import annotations

import secrets
import sys
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from notes_api import __version__, preflight
from notes_api.accounts import commands as account_commands
from notes_api.actor import COMMAND_LINE
from notes_api.admin import service as administration
from notes_api.auth.roles import BuiltinRole
from notes_api.auth.tokens import split_roles
from notes_api.command_line import fail, first_error, load_settings, run_with_session
from notes_api.exceptions import ConflictError
from notes_api.keys_cli import check_signing_keys, keys_cli
from notes_api.metrics_files import metrics_directory
from notes_api.observability import configure_logging
from notes_api.personal_tokens.commands import create_token
from notes_api.schema_migrations import head_revision, upgrade_to_head
from notes_api.server import uvicorn_limits
from notes_api.users import service
from notes_api.users.schemas import UserCreate

cli = typer.Typer(
    help=f"notes-api {__version__}: serve the API and manage its users and roles.",
    no_args_is_help=True,
    add_completion=False,
)
cli.add_typer(keys_cli, name="keys")
cli.command("create-token")(create_token)

ADMIN_ROLES = [BuiltinRole.ADMIN.value, BuiltinRole.USER.value]
DEMO_USERS = {"admin": ADMIN_ROLES, "demo": [BuiltinRole.USER.value]}
RoleNames = Annotated[str, typer.Option(help='Comma-separated role names; "" for none')]


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
    workers: Annotated[int | None, typer.Option(help="Worker processes [WEB_CONCURRENCY]")] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development)")] = False,
) -> None:
    """Serve the API with uvicorn.

    Logging is ours (LOG_FORMAT, LOG_LEVEL), the access log the application's middleware;
    limits and graceful shutdown (SIGTERM) are in notes_api.server. Several workers count
    metrics in a directory emptied here (`metrics_files`).
    """
    import uvicorn

    settings = load_settings()
    check_signing_keys(settings)
    configure_logging(settings.log_level, settings.log_format)
    if warning := preflight.serve_warning(settings.database_url):
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    worker_count = None if reload else (workers or settings.web_concurrency)
    with metrics_directory(worker_count or 1):
        uvicorn.run(
            "notes_api.main:app",
            host=host,
            port=port,
            workers=worker_count,
            reload=reload,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            log_config=None,
            log_level=settings.log_level.lower(),
            access_log=False,
            **uvicorn_limits(),
        )


@cli.command()
def migrate() -> None:
    """Upgrade the database schema to the latest migration.

    Safe to run from several containers at once: on PostgreSQL the migrations run under
    an advisory lock, so the first upgrades and the others then find the schema at head.
    """
    database_url = load_settings().database_url
    try:
        upgrade_to_head(database_url)
    except Exception as exc:
        if message := preflight.migrate_failure(exc, database_url):
            raise fail(message) from None
        raise
    typer.echo(f"database at revision {head_revision()}")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@cli.command("create-user")
def create_user(
    username: str,
    email: Annotated[str | None, typer.Option(help="Email address")] = None,
    roles: RoleNames = BuiltinRole.USER.value,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a user (the password is prompted for, or read from stdin)."""
    password = _read_password(password_stdin)
    payload = _user_payload(
        username=username, email=email, password=password, roles=split_roles(roles)
    )
    user = run_with_session(
        lambda db: service.create_user(
            db,
            COMMAND_LINE,
            username=payload.username,
            password=payload.password,
            email=payload.email,
            role_names=payload.roles,
        )
    )
    typer.echo(f"created user {user.username} (id {user.id}) with roles: {_roles(user.role_names)}")


@cli.command("ensure-admin")
def ensure_admin(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create USERNAME as an administrator unless a user of that name exists.

    For container start-up (ADMIN_USERNAME, ADMIN_PASSWORD): run on every start,
    from any number of containers at once, it creates the user once. An existing
    user is left exactly as it is, password and roles included, so removing the
    variables later, or changing the password through the API, is never undone.
    The password is never printed.
    """
    payload = _user_payload(
        username=username, email=None, password=_read_password(password_stdin), roles=ADMIN_ROLES
    )

    async def work(db: AsyncSession) -> bool:
        if await service.find_user_by_username(db, payload.username) is not None:
            return False
        try:
            await service.create_user(
                db,
                COMMAND_LINE,
                username=payload.username,
                password=payload.password,
                role_names=payload.roles,
            )
        except ConflictError:  # another container created it between our check and insert
            return False
        return True

    if run_with_session(work):
        typer.echo(f"created administrator {payload.username} with roles: {_roles(ADMIN_ROLES)}")
    else:
        typer.echo(f"user {payload.username} already exists: left unchanged")


def _user_payload(username: str, email: str | None, password: str, roles: list[str]) -> UserCreate:
    try:
        return UserCreate(username=username, email=email, password=password, roles=roles)
    except ValidationError as exc:
        raise fail(str(exc).splitlines()[0] + ": " + first_error(exc)) from None


def _roles(names: list[str]) -> str:
    return ",".join(names) or "(none)"


@cli.command()
def grant(username: str, role: str) -> None:
    """Grant ROLE to USERNAME (inserts a user_roles row)."""

    async def work(db: AsyncSession) -> None:
        user = await service.get_user_by_username(db, username)
        await administration.grant_role(db, COMMAND_LINE, user.id, role)

    run_with_session(work)
    typer.echo(f"granted {role} to {username}")


@cli.command()
def revoke(username: str, role: str) -> None:
    """Revoke ROLE from USERNAME (deletes the user_roles row)."""

    async def work(db: AsyncSession) -> None:
        user = await service.get_user_by_username(db, username)
        await administration.revoke_role(db, COMMAND_LINE, user.id, role)

    run_with_session(work)
    typer.echo(f"revoked {role} from {username}")


@cli.command("roles")
def list_roles() -> None:
    """List the roles."""
    for role in run_with_session(service.list_roles):
        typer.echo(f"{role.name}\t{role.description}")


@cli.command("users")
def list_users() -> None:
    """List the users with their roles."""

    async def work(db: AsyncSession) -> list[str]:
        lines, cursor = [], None
        while True:
            page = await service.list_users(db, limit=100, after_id=cursor)
            for user in page.items:
                state = "disabled" if user.disabled else "enabled"
                lines.append(f"{user.id}\t{user.username}\t{state}\t{_roles(user.role_names)}")
            if page.next_cursor is None:
                return lines
            cursor = page.items[-1].id

    for line in run_with_session(work):
        typer.echo(line)


@cli.command("ensure-demo-users", hidden=True)
def ensure_demo_users() -> None:
    """Create the demo `admin` and `demo` users if missing, printing new passwords once."""

    async def work(db: AsyncSession) -> list[tuple[str, str]]:
        created = []
        for username, roles in DEMO_USERS.items():
            if await service.find_user_by_username(db, username) is None:
                password = secrets.token_urlsafe(12)
                await service.create_user(
                    db, COMMAND_LINE, username=username, password=password, role_names=roles
                )
                created.append((username, password))
        return created

    for username, password in run_with_session(work):
        typer.secho(
            f"demo user created: {username} / {password}  (shown once; keep it)",
            fg=typer.colors.GREEN,
        )


account_commands.register(cli, run_with_session, _read_password, fail)


def main() -> None:
    cli()
