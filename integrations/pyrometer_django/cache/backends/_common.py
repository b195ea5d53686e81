"""The ``get`` every instrumented cache backend shares (django-prometheus's names and labels)."""

from __future__ import annotations

from typing import Any, Optional, Tuple

from ..._metrics import django_metrics

__all__ = ["CacheMetricsMixin"]

_MISSING = object()


class CacheMetricsMixin:
    """Mixed in before a Django cache class; ``metrics_backend`` is its ``backend`` label value.

    A hit is any stored value, ``None`` included (django-prometheus counts a stored
    ``None`` as a miss); ``aget`` goes through ``get``, so it is counted too.
    """

    metrics_backend = "unknown"

    def _pyrometer_children(self) -> Tuple[Any, Any, Any, Any]:
        children: Optional[Tuple[Any, Any, Any, Any]] = self.__dict__.get("_pyrometer")
        if children is None:
            m, label = django_metrics(), self.metrics_backend
            children = self.__dict__["_pyrometer"] = (
                m.cache_get.labels(label), m.cache_hits.labels(label), m.cache_misses.labels(label),
                m.cache_fails.labels(label))
        return children

    def get(self, key: Any, default: Any = None, version: Optional[int] = None, **kwargs: Any) -> Any:
        gets, hits, misses, fails = self._pyrometer_children()
        gets.inc()
        try:
            value = super().get(key, _MISSING, version=version, **kwargs)  # type: ignore[misc]
        except Exception:
            fails.inc()
            raise
        if value is _MISSING:
            misses.inc()
            return default
        hits.inc()
        return value
