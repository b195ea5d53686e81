"""Cache metrics of the instrumented backends: gets, hits and misses by backend."""

import asyncio

import pytest
from django.core.cache import caches
from helpers import value


def _counts(backend):
    labels = {"backend": backend}
    return tuple(value(f"django_cache_get{suffix}_total", labels) for suffix in ("", "_hits", "_misses"))


@pytest.mark.parametrize(("alias", "backend"), [("default", "locmem"), ("files", "filebased")])
def test_get_hit_miss(alias, backend):
    """get counts every call, a stored value (None included) as a hit, an absent key as a miss."""
    cache = caches[alias]
    cache.clear()
    gets, hits, misses = _counts(backend)
    assert cache.get("absent") is None
    assert cache.get("absent", "fallback") == "fallback"
    cache.set("present", 42)
    cache.set("none", None)
    assert cache.get("present") == 42
    assert cache.get("none", "fallback") is None
    assert cache.get_or_set("computed", lambda: 7) == 7  # Django's get_or_set: a miss, add, then a hit
    assert _counts(backend) == (gets + 6, hits + 3, misses + 3)


def test_async_get_counted():
    """aget goes through the instrumented get."""
    cache = caches["default"]
    cache.set("k", "v")
    gets, hits, misses = _counts("locmem")
    assert asyncio.run(cache.aget("k")) == "v"
    assert _counts("locmem") == (gets + 1, hits + 1, misses)


def test_other_backends_import():
    """The redis and memcached wrappers are Django's classes with the mixin; django-redis's needs django-redis."""
    from django.core.cache.backends import memcached, redis
    from pyrometer_django.cache.backends import memcached as our_memcached
    from pyrometer_django.cache.backends import redis as our_redis

    assert issubclass(our_redis.NativeRedisCache, redis.RedisCache)
    assert our_redis.NativeRedisCache.metrics_backend == "native_redis"
    assert issubclass(our_memcached.PyMemcacheCache, memcached.PyMemcacheCache)
    assert issubclass(our_memcached.PyLibMCCache, memcached.PyLibMCCache)
    try:
        import django_redis  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="django-redis"):
            our_redis.RedisCache  # noqa: B018
    else:
        assert our_redis.RedisCache.metrics_backend == "redis"
