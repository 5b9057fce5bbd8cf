"""`notes-api keys ...`: make, inspect and publish the asymmetric signing keys.

The rotation procedure (docs/keys.md) needs three things from a shell: a new
private key on disk (`generate`), its public half for instances or verifiers
that must not hold the private one (`public`), and a check of what a
configuration signs with and publishes (`list`), by `kid`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from notes_api.auth.keys import (
    KeyFileError,
    KeyRing,
    generate_private_key,
    load_private_key,
    private_key_pem,
    public_key_pem,
    signing_material,
    thumbprint,
)
from notes_api.command_line import fail, load_settings
from notes_api.config import ASYMMETRIC_ALGORITHMS, Settings

keys_cli = typer.Typer(
    help="Asymmetric signing keys (JWT_ALGORITHM=EdDSA or ES256) and their rotation.",
    no_args_is_help=True,
)


def check_signing_keys(settings: Settings) -> str | KeyRing:
    """Load the keys as the server will, so that a bad key file is one line, not a traceback
    from every worker."""
    try:
        return signing_material(settings)
    except KeyFileError as exc:
        raise fail(str(exc)) from None


@keys_cli.command()
def generate(
    file: Path,
    algorithm: Annotated[str, typer.Option(help="EdDSA (Ed25519) or ES256 (P-256)")] = "EdDSA",
) -> None:
    """Write a new private key to FILE (mode 600; never overwrites) and print its kid."""
    if algorithm not in ASYMMETRIC_ALGORITHMS:
        raise fail(f"--algorithm must be one of {', '.join(ASYMMETRIC_ALGORITHMS)}")
    key = generate_private_key(algorithm)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise fail(f"{file} exists; a key file is never overwritten") from None
    except OSError as exc:
        raise fail(f"cannot create {file}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_pem(key))
    typer.echo(f"{algorithm} key written to {file}, kid {thumbprint(key.public_key())}")


@keys_cli.command()
def public(
    file: Path,
    algorithm: Annotated[str, typer.Option(help="EdDSA (Ed25519) or ES256 (P-256)")] = "EdDSA",
) -> None:
    """Print the public half of the private key in FILE (PEM), for JWT_PUBLISHED_KEY_FILES
    on hosts that must not hold the private key."""
    if algorithm not in ASYMMETRIC_ALGORITHMS:
        raise fail(f"--algorithm must be one of {', '.join(ASYMMETRIC_ALGORITHMS)}")
    try:
        key = load_private_key(file, algorithm, setting="FILE")
    except KeyFileError as exc:
        raise fail(str(exc)) from None
    typer.echo(public_key_pem(key.public_key()).decode("ascii"), nl=False)


@keys_cli.command("list")
def list_keys() -> None:
    """Print the kid this configuration signs with, and every kid it publishes."""
    settings = load_settings()
    ring = check_signing_keys(settings)
    if not isinstance(ring, KeyRing):
        typer.echo(f"{settings.jwt_algorithm} signs with JWT_SECRET_KEY: no key is published")
        return
    for kid in ring.public_keys:
        typer.echo(f"{'signing' if kid == ring.kid else 'published'}\t{kid}")
