"""Guessing API keys costs time: each client address may send API_KEY_FAILURE_RATE wrong keys
per period (default 10/min); over it, every request of that address that carries a key answers
429 with Retry-After until the period ends, a right key too (else a guess that hits would still
be told apart). Requests without a key are not counted: they guess nothing.

Counted in the cache (core.rates): shared by workers and hosts with CACHE_URL. When the cache
is unreachable the guard lets requests through, as the throttle does.
"""

import logging
import time

from django.conf import settings

from core.rates import rate_parse, window_count, window_hit, window_wait

logger = logging.getLogger(__name__)
KIND = "wrong-key"


def key_guessing_wait(*, address: str) -> float | None:
    """Seconds `address` must wait before its next try, or None when it may try now."""
    limit = rate_parse(rate=settings.API_KEY_FAILURE_RATE)
    if limit is None:
        return None
    allowed, period = limit
    now = time.time()
    try:
        failures = window_count(kind=KIND, name=address, period=period, now=now)
    except Exception as error:  # Redis down, timeout, ...: no guard rather than no service
        logger.warning("Wrong-key guard: cache unavailable (%s)", type(error).__name__)
        return None
    return window_wait(period=period, now=now) if failures >= allowed else None


def key_guessing_record(*, address: str) -> None:
    """Counts a wrong key sent from `address`."""
    limit = rate_parse(rate=settings.API_KEY_FAILURE_RATE)
    if limit is None:
        return
    try:
        failures = window_hit(kind=KIND, name=address, period=limit[1], now=time.time())
    except Exception as error:
        logger.warning("Wrong-key guard: cache unavailable (%s)", type(error).__name__)
        return
    if failures == limit[0]:
        logger.warning(
            "Wrong API keys: %s sent %s; refused until the period ends", address, failures
        )
