"""Per-key throttling: each API key (by name) gets API_THROTTLE_RATE requests per period.

A fixed-window counter in the cache (`CACHES["default"]`: Redis when CACHE_URL is set, so the
limit holds across gunicorn workers and hosts; else per-process memory). One atomic INCR per
request. When the cache is unreachable, requests are let through: throttling protects the service,
it must not take it down.
"""

import functools
import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from core.auth import ApiClient

logger = logging.getLogger(__name__)
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@functools.cache
def throttle_rate_parse(*, rate: str) -> tuple[int, int] | None:
    """'1000/min' -> (1000, 60); '' -> None (no limit). Raises on anything else."""
    if not rate.strip():
        return None
    try:
        count, period = rate.split("/")
        return int(count), PERIODS[period.strip().lower()[0]]
    except (ValueError, KeyError, IndexError) as error:
        raise ImproperlyConfigured(
            f"API_THROTTLE_RATE {rate!r} is not like 1000/min (periods: s, min, hour, day)"
        ) from error


class ApiKeyRateThrottle(BaseThrottle):
    """Counts requests per API key name; requests without a key are not throttled here
    (they are refused by the permission check before this runs)."""

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def allow_request(self, request: Request, view: object) -> bool:
        client = request.auth
        limit = throttle_rate_parse(rate=settings.API_THROTTLE_RATE)
        if limit is None or not isinstance(client, ApiClient):
            return True
        allowed, period = limit
        now = time.time()
        window = int(now // period)
        # Hashed: key names may hold spaces or characters a cache key must not.
        name = hashlib.sha256(client.name.encode()).hexdigest()[:24]
        key = f"throttle:{name}:{period}:{window}"
        try:
            # add() is a no-op when the key exists; incr() is atomic in Redis.
            cache.add(key, 0, timeout=period + 1)
            count = cache.incr(key)
        except Exception as error:  # Redis down, timeout, ...: let the request through
            logger.warning("Throttle cache unavailable, not throttling (%s)", type(error).__name__)
            return True
        if count <= allowed:
            return True
        self.wait_seconds = (window + 1) * period - now
        return False

    def wait(self) -> float | None:
        return self.wait_seconds
