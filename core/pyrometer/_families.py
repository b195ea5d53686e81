"""What a scrape iterates: metric families, with the built-in metrics handed over as-is.

Writers render a built-in Counter/Gauge/Summary/Histogram straight from its
children and their cached label strings, skipping the construction of a
``Metric`` and a ``Sample`` per series. Everything else (custom collectors,
registry views, metrics whose names need escaping) arrives as ``Metric``.
"""

from __future__ import annotations

from typing import Iterator, Union

from ._wrapper import MetricWrapperBase
from .metrics import Counter, Gauge, Histogram, Summary
from .metrics_core import Metric
from .registry import Collector, CollectorRegistry

_FAST_TYPES = (Counter, Gauge, Summary, Histogram)
_BASE_COLLECT = MetricWrapperBase.collect


def iter_families(registry: Collector, builtin: bool = True) -> Iterator[Union[Metric, MetricWrapperBase]]:
    """Yield each family of a scrape: a ``Metric``, or a built-in metric the writer renders directly.

    ``builtin=False`` turns the direct path off (for escapings that rewrite legacy names too).
    """
    if type(registry) is not CollectorRegistry:
        yield from registry.collect()
        return
    collectors, target_info = registry._snapshot()
    if target_info is not None:
        yield target_info
    for collector in collectors:
        if (builtin and isinstance(collector, _FAST_TYPES) and collector._fast_names
                and type(collector).collect is _BASE_COLLECT):
            yield collector
        else:
            yield from collector.collect()
