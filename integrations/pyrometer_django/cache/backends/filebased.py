"""``pyrometer_django.cache.backends.filebased.FileBasedCache``."""

from django.core.cache.backends import filebased

from ._common import CacheMetricsMixin


class FileBasedCache(CacheMetricsMixin, filebased.FileBasedCache):
    """Django's file-based cache counting gets, hits and misses (``backend="filebased"``)."""

    metrics_backend = "filebased"
