"""``NativeRedisCache`` (Django's own Redis cache) and ``RedisCache`` (django-redis), as in django-prometheus.

``NativeRedisCache`` reports ``backend="native_redis"``; ``RedisCache`` wraps
``django_redis.cache.RedisCache`` (needs the ``django-redis`` package) and reports
``backend="redis"``. Both names and labels are django-prometheus's, so moving from
``django_prometheus.cache.backends.redis`` is a change of module only.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends import redis

from ._common import CacheMetricsMixin

__all__ = ["NativeRedisCache", "RedisCache"]  # noqa: F822 - RedisCache comes from __getattr__


class NativeRedisCache(CacheMetricsMixin, redis.RedisCache):
    """Django's Redis cache counting gets, hits and misses (``backend="native_redis"``)."""

    metrics_backend = "native_redis"


def __getattr__(name: str) -> Any:
    if name != "RedisCache":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from django_redis.cache import RedisCache as DjangoRedisCache
    except ImportError as exc:
        raise ImportError("pyrometer_django.cache.backends.redis.RedisCache wraps django-redis: "
                          "pip install django-redis (Django's own Redis cache: NativeRedisCache)") from exc

    class RedisCache(CacheMetricsMixin, DjangoRedisCache):  # type: ignore[misc, valid-type]
        """django-redis's cache counting gets, hits and misses (``backend="redis"``)."""

        metrics_backend = "redis"

    RedisCache.__module__ = __name__
    globals()["RedisCache"] = RedisCache
    return RedisCache
