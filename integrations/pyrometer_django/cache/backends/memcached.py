"""``pyrometer_django.cache.backends.memcached.PyMemcacheCache`` / ``PyLibMCCache``."""

from django.core.cache.backends import memcached

from ._common import CacheMetricsMixin


class PyMemcacheCache(CacheMetricsMixin, memcached.PyMemcacheCache):
    """Django's pymemcache cache counting gets, hits and misses (``backend="memcached"``)."""

    metrics_backend = "memcached"


class PyLibMCCache(CacheMetricsMixin, memcached.PyLibMCCache):
    """Django's pylibmc cache counting gets, hits and misses (``backend="memcached"``)."""

    metrics_backend = "memcached"
