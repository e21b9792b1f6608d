"""Fixed-window counters in the cache, for the per-key API throttle (core.throttling) and the
wrong-key guard (core.key_guessing).

One atomic INCR per hit in `CACHES["default"]`: Redis when CACHE_URL is set, so a limit holds
across gunicorn workers and hosts; else each process's memory.
"""

import functools
import hashlib

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@functools.cache
def rate_parse(*, rate: str) -> tuple[int, int] | None:
    """'1000/min' -> (1000, 60); '' -> None (no limit). Raises on anything else."""
    if not rate.strip():
        return None
    try:
        count, period = rate.split("/")
        return int(count), PERIODS[period.strip().lower()[0]]
    except (ValueError, KeyError, IndexError) as error:
        raise ImproperlyConfigured(
            f"rate {rate!r} is not like 1000/min (periods: s, min, hour, day)"
        ) from error


def _key(kind: str, name: str, period: int, now: float) -> str:
    # Hashed: names (key names, addresses) may hold characters a cache key must not.
    digest = hashlib.sha256(name.encode()).hexdigest()[:24]
    return f"{kind}:{digest}:{period}:{int(now // period)}"


def window_hit(*, kind: str, name: str, period: int, now: float) -> int:
    """Counts one hit in the current window of `period` seconds; returns the window's count.
    Raises whatever the cache raises when it is unreachable."""
    key = _key(kind, name, period, now)
    # add() is a no-op when the key exists; incr() is atomic in Redis.
    cache.add(key, 0, timeout=period + 1)
    return cache.incr(key)


def window_count(*, kind: str, name: str, period: int, now: float) -> int:
    """The current window's count, without counting."""
    return cache.get(_key(kind, name, period, now), 0)


def window_wait(*, period: int, now: float) -> float:
    """Seconds until the current window ends."""
    return (int(now // period) + 1) * period - now
