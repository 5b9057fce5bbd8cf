"""The built-in roles: the one place that names them.

Other roles are rows an administrator creates; these two are seeded by the
first migration, cannot be deleted, and are what the code itself checks for.
"""

from __future__ import annotations

from enum import StrEnum


class BuiltinRole(StrEnum):
    ADMIN = "admin"
    USER = "user"


BUILTIN_ROLES: dict[str, str] = {
    BuiltinRole.ADMIN.value: "Administers users and roles; sees every note",
    BuiltinRole.USER.value: "Keeps notes",
}
"""Each built-in role's description, as the first migration seeded it."""
