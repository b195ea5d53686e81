"""Garbage collector statistics per generation, from :func:`gc.get_stats` (CPython only)."""

from __future__ import annotations

import gc
import platform
from typing import List, Optional, Tuple

from .metrics_core import CounterMetricFamily, Metric
from .registry import REGISTRY, Collector, CollectorRegistry
from .samples import Sample

# (family name, help, key in a gc.get_stats() entry), in the order the families are exported.
_SERIES: Tuple[Tuple[str, str, str], ...] = (
    ("python_gc_objects_collected", "Objects collected during gc", "collected"),
    ("python_gc_objects_uncollectable", "Uncollectable objects found during GC", "uncollectable"),
    ("python_gc_collections", "Number of times this generation was collected", "collections"),
)


class GCCollector(Collector):
    """Exports objects collected, uncollectable objects and collection runs by ``generation``.

    Other interpreters' ``gc.get_stats`` (if any) means something else, so
    there the collector neither registers nor exports anything.
    """

    def __init__(self, registry: Optional[CollectorRegistry] = REGISTRY) -> None:
        self._enabled = hasattr(gc, "get_stats") and platform.python_implementation() == "CPython"
        if self._enabled and registry is not None:
            registry.register(self)

    def describe(self) -> List[Metric]:
        """The three counter families (none off CPython)."""
        if not self._enabled:
            return []
        return [CounterMetricFamily(name, doc, labels=("generation",)) for name, doc, _key in _SERIES]

    def collect(self) -> List[Metric]:
        """Current per-generation counts."""
        if not self._enabled:
            return []
        stats = gc.get_stats()
        generations = [str(i) for i in range(len(stats))]
        families: List[Metric] = []
        for name, doc, key in _SERIES:
            family = CounterMetricFamily(name, doc, labels=("generation",))
            sample_name = name + "_total"
            # Samples appended directly: add_metric's per-call overhead dominates this collector.
            family.samples = [
                Sample(sample_name, {"generation": gen}, entry[key]) for gen, entry in zip(generations, stats)
            ]
            families.append(family)
        return families


GC_COLLECTOR = GCCollector()
"""The GC collector registered in ``REGISTRY``."""
