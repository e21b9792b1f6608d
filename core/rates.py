"""Fixed-window counters in the cache, for the per-key API throttle (core.throttling) and the
wrong-key guard (core.key_guessing).

One atomic INCR per hit in `CACHES["default"]`: Redis when CACHE_URL is set, so a limit holds
across gunicorn workers and hosts; else each process's memory.
"""

import functools
import hashlib

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
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
    return f"{kind}:{_digest(name)}:{period}:{int(now // period)}"


@functools.lru_cache(maxsize=4096)
def _digest(name: str) -> str:
    # Hashed: names (key names, addresses) may hold characters a cache key must not. Kept:
    # every API request counts its key's name and reads its address's failures.
    return hashlib.sha256(name.encode()).hexdigest()[:24]


def window_hit(*, kind: str, name: str, period: int, now: float) -> int:
    """Counts one hit in the current window of `period` seconds; returns the window's count.
    Raises whatever the cache raises when it is unreachable."""
    key = _key(kind, name, period, now)
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _redis_window_hit(backend, key, period)
    # A window's first hit creates its counter; every other is one atomic incr().
    try:
        return cache.incr(key)
    except ValueError:
        if cache.add(key, 1, timeout=period + 1):
            return 1
        return cache.incr(key)  # another request created it meanwhile


def _redis_window_hit(backend: RedisCache, key: str, period: int) -> int:
    """One round trip: INCR and EXPIRE in a pipeline, where Django's RedisCache takes three
    (add, then incr's EXISTS and INCR). Each hit pushes the expiry on, which is harmless: the
    key names its window, the next window counts under another. get() reads the plain integer
    INCR keeps (django.core.cache.backends.redis.RedisSerializer loads digits as int)."""
    key = backend.make_and_validate_key(key)
    client = backend._cache.get_client(key, write=True)
    with client.pipeline(transaction=False) as pipeline:
        pipeline.incr(key)
        pipeline.expire(key, period + 1)
        count, _ = pipeline.execute()
    return int(count)


def window_count(*, kind: str, name: str, period: int, now: float) -> int:
    """The current window's count, without counting."""
    return cache.get(_key(kind, name, period, now), 0)


def window_wait(*, period: int, now: float) -> float:
    """Seconds until the current window ends."""
    return (int(now // period) + 1) * period - now
