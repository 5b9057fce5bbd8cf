"""notes-api: a SQL-backed, multi-role notes service with JWT access and refresh tokens."""

__version__ = "0.1.0"
