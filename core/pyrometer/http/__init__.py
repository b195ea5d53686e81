"""Request instrumentation shared by every framework integration.

``HttpMetrics`` owns the schema and the options; adapters report each request
through ``HttpMetrics.start(...)`` → ``RequestTimer.finish(...)``. ``wsgi`` holds
the WSGI middleware that the WSGI frameworks share, ``asgi`` its ASGI twin.
"""

from ._endpoint import scrape_registry, serve_metrics
from ._engine import (
    DEFAULT_MAX_LABEL_SETS,
    OTHER_METHOD,
    STANDARD_METHODS,
    UNMATCHED,
    HttpMetrics,
    RequestTimer,
    normalize_method,
)
from ._schema import DEFAULT_DURATION_BUCKETS, KINDS, PRESETS, SIZE_BUCKETS
from ._views import ViewMeasurement, ViewMetric

__all__ = [
    "DEFAULT_DURATION_BUCKETS",
    "DEFAULT_MAX_LABEL_SETS",
    "KINDS",
    "OTHER_METHOD",
    "PRESETS",
    "SIZE_BUCKETS",
    "STANDARD_METHODS",
    "UNMATCHED",
    "HttpMetrics",
    "RequestTimer",
    "ViewMeasurement",
    "ViewMetric",
    "normalize_method",
    "scrape_registry",
    "serve_metrics",
]
