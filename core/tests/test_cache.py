"""The cache backends CACHE_URL selects (core/cache.py): Django's, building one redis client per
connection pool rather than one per operation, and taking any key without memcached's check."""

import threading
import uuid
import warnings

import pytest
import redis
from django.core.cache import CacheKeyWarning, caches
from django.core.cache.backends.locmem import LocMemCache as DjangoLocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from core.cache import LocMemCache, RedisCache
from testkit.procs import redis_url

URL = redis_url()


@pytest.fixture
def redis_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": URL}}
    prefix = f"test-cache-{uuid.uuid4().hex[:12]}"
    yield caches["default"], prefix
    stored = redis.Redis.from_url(URL)
    for key in stored.scan_iter(f"*{prefix}*"):  # only this test's: the db may be the broker's
        stored.delete(key)


@pytest.fixture
def clients_built(monkeypatch):
    built = []
    original = redis.Redis.__init__

    def counted(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counted)
    return built


def test_it_builds_one_redis_client_for_every_operation_on_a_pool(redis_cache, clients_built):
    cache, prefix = redis_cache

    cache.set(f"{prefix}:a", 1)
    for _ in range(10):
        cache.incr(f"{prefix}:a")
        cache.get(f"{prefix}:a")
    cache.delete(f"{prefix}:b")

    assert isinstance(cache, RedisCache)
    assert cache.get(f"{prefix}:a") == 11
    assert len(clients_built) == 1  # Django's own backend builds one per operation: 23 here


def test_its_one_client_serves_many_threads_at_once(redis_cache):
    cache, prefix = redis_cache
    cache.set(f"{prefix}:hits", 0)

    def hit() -> None:
        for _ in range(50):
            cache.incr(f"{prefix}:hits")

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert cache.get(f"{prefix}:hits") == 400


def test_what_it_stores_reads_the_same_through_djangos_backend(redis_cache):
    # Values and keys as Django's backend keeps them: a rolling upgrade shares counts.
    cache, prefix = redis_cache
    cache.set(f"{prefix}:value", {"n": 1, "name": "ann"})
    django_backend = DjangoRedisCache(URL, {})

    assert django_backend.get(f"{prefix}:value") == {"n": 1, "name": "ann"}


# Memcached's rules: at most 250 characters, no spaces or control characters.
KEY_MEMCACHED_REFUSES = "wrong-key:client at 10.0.0.1:" + "x" * 250


def test_the_memory_cache_takes_any_key_without_checking_it():
    cache = LocMemCache(f"test-{uuid.uuid4().hex}", {})

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a CacheKeyWarning would raise here
        cache.set(KEY_MEMCACHED_REFUSES, 3)
        assert cache.incr(KEY_MEMCACHED_REFUSES) == 4
    with pytest.warns(CacheKeyWarning):  # what Django's backend spends each operation on
        DjangoLocMemCache(f"test-{uuid.uuid4().hex}", {}).get(KEY_MEMCACHED_REFUSES)


def test_the_redis_cache_takes_any_key_without_checking_it(redis_cache):
    cache, prefix = redis_cache

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.set(f"{prefix}:{KEY_MEMCACHED_REFUSES}", 3)
        assert cache.incr(f"{prefix}:{KEY_MEMCACHED_REFUSES}") == 4
    with pytest.warns(CacheKeyWarning):  # the same key, read by Django's backend
        assert DjangoRedisCache(URL, {}).get(f"{prefix}:{KEY_MEMCACHED_REFUSES}") == 4
