"""The token endpoint's settings, as `create_app` derives them from `Settings`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RefreshPolicy:
    lifetime: timedelta
    family_lifetime: timedelta


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures_per_user: int
    max_failures_per_address: int
    window: timedelta
