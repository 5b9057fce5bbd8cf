"""Development's generated secrets: created once on disk, shared by every worker."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=4)
def development_secret(path: Path) -> str:
    """Read the development key, creating it if no process has yet."""
    create_once(path, lambda: secrets.token_urlsafe(48).encode())
    return path.read_text().strip()


def create_once(path: Path, content: Callable[[], bytes]) -> None:
    """Create a private file (mode 600) unless it exists: development's generated keys.

    The content is written to a private temporary file and hard-linked into place,
    which fails if the file exists: concurrent workers never see a half-written
    key, and all of them end up with the one that won.
    """
    if path.exists():
        return
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content())
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
