"""The token endpoint's limits (refresh lifetimes, login throttling), as `create_app` derives
them from `Settings`: read by the login, the second factor and the account routes alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RefreshPolicy:
    lifetime: timedelta
    family_lifetime: timedelta


DEFAULT_MAX_IN_FLIGHT_PER_ADDRESS = 8


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures_per_user: int
    max_failures_per_address: int
    window: timedelta
    max_in_flight_per_address: int = DEFAULT_MAX_IN_FLIGHT_PER_ADDRESS
    """Logins from one address being checked at once, across every worker."""
