"""The cache backends CACHE_URL selects: Django's, keeping redis clients, without the key check.

Django's RedisCacheClient.get_client builds a new `redis.Redis` around its connection pool for
every cache operation (django/core/cache/backends/redis.py: `return self._client(
connection_pool=pool)`). Building one costs about 74 us of CPU (redis-py fills its table of
response callbacks each time), and each API request makes two operations (the wrong-key guard's
read and the throttle's count, core.rates): with CACHE_URL on Redis a single POST /events cost
0.95 CPU-ms in process without it and 1.47-1.49 with it. A `redis.Redis` holds no connection of
its own (each command takes one from the pool) and is safe to share between threads
(https://redis.readthedocs.io/en/stable/advanced_features.html, "A note about threading"), so
one per pool serves every operation. The pools are Django's, as before.

Both skip Django's check of each key against memcached's rules (at most 250 characters, no
spaces or control characters: BaseCache.validate_key, which only warns, and tests every
character in Python): Redis and a process's memory take any key, and the check was 1.3% of a
single event's CPU (py-spy, two cache operations a request). Memcached is not offered.
"""

from typing import Any

from django.core.cache.backends.locmem import LocMemCache as DjangoLocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _ClientKeepingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}  # by the id of the pool (Django keeps the pools)

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:  # two threads may both build one: either serves
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class _AnyKey:
    def validate_key(self, key: str) -> None:
        pass  # Redis and memory take any key (see above)


class RedisCache(_AnyKey, DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ClientKeepingRedisCacheClient


class LocMemCache(_AnyKey, DjangoLocMemCache):
    pass
