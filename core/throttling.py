"""Per-key throttling: each API key (by name) gets API_THROTTLE_RATE requests per period.

A fixed-window counter in the cache (`CACHES["default"]`: Redis when CACHE_URL is set, so the
limit holds across gunicorn workers and hosts; else per-process memory). One atomic INCR per
request. When the cache is unreachable, requests are let through: throttling protects the service,
it must not take it down.
"""

import logging
import time

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from core.auth import ApiClient
from core.rates import rate_parse, window_hit, window_wait

logger = logging.getLogger(__name__)


class ApiKeyRateThrottle(BaseThrottle):
    """Counts requests per API key name; requests without a key are not throttled here
    (they are refused by the permission check before this runs)."""

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def allow_request(self, request: Request, view: object) -> bool:
        client = request.auth
        limit = rate_parse(rate=settings.API_THROTTLE_RATE)
        if limit is None or not isinstance(client, ApiClient):
            return True
        allowed, period = limit
        now = time.time()
        try:
            count = window_hit(kind="throttle", name=client.name, period=period, now=now)
        except Exception as error:  # Redis down, timeout, ...: let the request through
            logger.warning("Throttle cache unavailable, not throttling (%s)", type(error).__name__)
            return True
        if count <= allowed:
            return True
        self.wait_seconds = window_wait(period=period, now=now)
        return False

    def wait(self) -> float | None:
        return self.wait_seconds
