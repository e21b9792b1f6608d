"""Klaviyo's rate limits: per operation, two fixed windows at once (burst 1 s, steady 1 min).

The values are each operation's `x-klaviyo-ratelimit` in the spec (a test checks them).
Klaviyo counts per account; the emulator serves one account, so per operation.
"""

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

BURST_SECONDS = 1
STEADY_SECONDS = 60


@dataclass(frozen=True)
class Limit:
    burst: int  # per second
    steady: int  # per minute


# operationId -> limit, from the spec (revision 2026-07-15).
OPERATION_LIMITS: dict[str, Limit] = {
    "create_event": Limit(350, 3500),
    "get_events": Limit(350, 3500),
    "get_event": Limit(10, 150),
    "bulk_create_events": Limit(10, 150),
    "create_or_update_profile": Limit(75, 750),
    "get_profiles": Limit(75, 750),
    "update_profile": Limit(75, 750),
    "bulk_import_profiles": Limit(10, 150),
    "get_bulk_import_profiles_job": Limit(10, 150),
    "get_errors_for_bulk_import_profiles_job": Limit(10, 150),
    "get_metrics": Limit(10, 150),
    "get_metric": Limit(10, 150),
    "query_metric_aggregates": Limit(3, 60),
    "get_accounts": Limit(1, 15),
    "bulk_subscribe_profiles": Limit(75, 750),
    "bulk_unsubscribe_profiles": Limit(75, 750),
    "bulk_suppress_profiles": Limit(75, 750),
    "get_bulk_suppress_profiles_job": Limit(75, 750),
    "bulk_unsuppress_profiles": Limit(75, 750),
    "get_bulk_unsuppress_profiles_job": Limit(75, 750),
    "get_lists": Limit(75, 750),
    "create_list": Limit(10, 150),  # and 150 a day, which the emulator does not count
    "get_list": Limit(75, 750),
    "get_profile_ids_for_list": Limit(75, 750),
    "add_profiles_to_list": Limit(10, 150),
    "remove_profiles_from_list": Limit(10, 150),
    "get_profiles_for_list": Limit(75, 750),
    "get_profile": Limit(75, 750),
    "request_profile_deletion": Limit(3, 60),
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int  # whole seconds, for a 429
    limit: int  # the steady limit, for RateLimit-Limit
    remaining: int  # left in the steady window
    reset: int  # seconds until the steady window resets


@dataclass
class _Windows:
    burst_index: int = -1
    burst_count: int = 0
    steady_index: int = -1
    steady_count: int = 0


class FixedWindowLimiter:
    def __init__(
        self, *, enabled: bool = True, scale: float = 1.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.enabled = enabled
        self.scale = scale
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, _Windows] = {}

    def limit_for(self, operation: str) -> Limit:
        base = OPERATION_LIMITS[operation]
        return Limit(
            burst=max(1, int(base.burst * self.scale)), steady=max(1, int(base.steady * self.scale))
        )

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()

    def hit(self, operation: str) -> Decision:
        """Counts one request to `operation` unless a window is full (a refused request does
        not count, so retrying after Retry-After succeeds)."""
        limit = self.limit_for(operation)
        now = self._clock()
        steady_index = int(now // STEADY_SECONDS)
        reset = max(1, math.ceil((steady_index + 1) * STEADY_SECONDS - now))
        if not self.enabled:
            return Decision(True, 0, limit.steady, limit.steady, reset)
        burst_index = int(now // BURST_SECONDS)
        with self._lock:
            windows = self._windows.setdefault(operation, _Windows())
            if windows.burst_index != burst_index:
                windows.burst_index, windows.burst_count = burst_index, 0
            if windows.steady_index != steady_index:
                windows.steady_index, windows.steady_count = steady_index, 0
            retry_after = 0
            if windows.steady_count >= limit.steady:
                retry_after = reset
            elif windows.burst_count >= limit.burst:
                retry_after = max(1, math.ceil((burst_index + 1) * BURST_SECONDS - now))
            if retry_after:
                remaining = max(0, limit.steady - windows.steady_count)
                return Decision(False, retry_after, limit.steady, remaining, reset)
            windows.burst_count += 1
            windows.steady_count += 1
            return Decision(True, 0, limit.steady, limit.steady - windows.steady_count, reset)
