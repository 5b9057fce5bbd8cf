"""Who is acting on the system, as the audit trail records it.

Services take an `Actor` and the request layer builds one (`request_context`); it lives
below both so that neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user id (None for the command line or an anonymous caller) and
    the client address the request came from."""

    id: int | None
    client_ip: str | None


COMMAND_LINE = Actor(id=None, client_ip=None)
