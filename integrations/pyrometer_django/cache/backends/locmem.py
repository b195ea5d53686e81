"""``pyrometer_django.cache.backends.locmem.LocMemCache``."""

from django.core.cache.backends import locmem

from ._common import CacheMetricsMixin


class LocMemCache(CacheMetricsMixin, locmem.LocMemCache):
    """Django's local-memory cache counting gets, hits and misses (``backend="locmem"``)."""

    metrics_backend = "locmem"
