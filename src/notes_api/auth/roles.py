"""The built-in roles: the one place that names them.

Other roles are rows an administrator creates; these are seeded by migrations
(`admin` and `user` by the first, `metrics` by `0007_metrics_role`), cannot be
deleted, and are what the code itself checks for.
"""

from __future__ import annotations

from enum import StrEnum


class BuiltinRole(StrEnum):
    ADMIN = "admin"
    USER = "user"
    METRICS = "metrics"


BUILTIN_ROLES: dict[str, str] = {
    BuiltinRole.ADMIN.value: "Administers users and roles; sees every note",
    BuiltinRole.USER.value: "Keeps notes",
    BuiltinRole.METRICS.value: "Reads GET /metrics (Prometheus)",
}
"""Each built-in role's description, as its migration seeded it."""
