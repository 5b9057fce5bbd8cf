"""notes-api: a SQL-backed, multi-role notes service with JWT access and refresh tokens."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("notes-api")
    """pyproject.toml's version, the only place it is written (the wheel's metadata)."""
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0.0.0+unknown"
