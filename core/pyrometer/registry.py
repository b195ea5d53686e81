"""Collector registries: who is scraped, and name-clash detection at registration."""

from __future__ import annotations

from threading import Lock
from typing import Any, Dict, Iterable, List, Optional, Protocol, Set

from .metrics_core import Metric

_TYPE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "info": ("_info",),
}

OVERFLOW_METRIC = "pyrometer_cardinality_overflow"
_OVERFLOW_NAMES = (OVERFLOW_METRIC, OVERFLOW_METRIC + "_total", OVERFLOW_METRIC + "_created")


def check_label_set_limit(limit: Optional[int], what: str = "max_label_sets") -> Optional[int]:
    """``limit`` if it is ``None`` or a positive int; a clear error otherwise."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"{what} must be an int or None, not {type(limit).__name__}")
    if limit < 1:
        raise ValueError(f"{what} must be at least 1, got {limit}")
    return limit


class Collector(Protocol):
    """Anything with a ``collect()`` returning metric families.

    ``collect`` may be called from any thread, concurrently with updates, and
    must not block for long: it runs inside every scrape. An optional
    ``describe()`` returns the families (samples not needed) so the registry can
    detect name clashes at registration time.
    """

    def collect(self) -> Iterable[Metric]:
        """Return the current metric families."""


class _EmptyCollector:
    def collect(self) -> Iterable[Metric]:
        return []


class DuplicateTimeseries(ValueError):  # noqa: N818 - name kept from prometheus_client
    """Raised when a collector would export a series name already registered."""

    def __init__(self, duplicates: Set[str]) -> None:
        super().__init__(f"Duplicated timeseries in CollectorRegistry: {duplicates}")
        self.duplicates: Set[str] = duplicates


class _LabelSetLimits:
    """A registry's label-set cap for metrics without their own, and its overflow counter."""

    __slots__ = ("default", "overflow")

    def __init__(self) -> None:
        self.default: Optional[int] = None
        self.overflow: Any = None  # the overflow Counter, made at the first fold


class CollectorRegistry:
    """The set of collectors one scrape reads.

    Registration is checked for series-name clashes up front (by ``describe``,
    or by ``collect`` when ``auto_describe`` is on), so a clash is an error in
    the code that caused it rather than a broken scrape later.

    ``default_max_label_sets`` caps the label sets of every labelled metric created
    with this registry that sets no ``max_label_sets`` of its own (``None``: no cap).
    Lookups folded into a metric's overflow series by a cap are counted in
    ``pyrometer_cardinality_overflow_total{metric}``, exported by this registry from the first one on.
    """

    def __init__(self, auto_describe: bool = False, target_info: Optional[Dict[str, str]] = None,
                 support_collectors_without_names: bool = False, *,
                 default_max_label_sets: Optional[int] = None) -> None:
        self._collector_to_names: Dict[Collector, List[str]] = {}
        self._names_to_collectors: Dict[str, Collector] = {}
        self._auto_describe = auto_describe
        self._lock = Lock()
        self._target_info: Optional[Dict[str, str]] = {}
        self._support_collectors_without_names = support_collectors_without_names
        self._collectors_without_names: List[Collector] = []
        # One mutable holder, so pyrometer.testing.isolated_registry can hand it over with the other state.
        self._limits = _LabelSetLimits()
        self.set_default_max_label_sets(default_max_label_sets)
        self.set_target_info(target_info)

    @property
    def default_max_label_sets(self) -> Optional[int]:
        """The label-set cap of this registry's metrics that set none themselves (``None``: no cap)."""
        return self._limits.default

    def set_default_max_label_sets(self, limit: Optional[int]) -> None:
        """Set (or with ``None`` lift) the default cap; it applies to label sets created from now on.

        Works for metrics created before the call too, e.g. ``REGISTRY.set_default_max_label_sets(1000)``
        at startup covers the metrics that modules defined at import.
        """
        self._limits.default = check_label_set_limit(limit, "default_max_label_sets")

    def _overflow_counter(self, metric_name: str) -> Any:
        """The overflow counter's child for one metric, the counter made on first use."""
        limits = self._limits
        with self._lock:
            if limits.overflow is None:
                from .metrics import Counter  # metrics imports this module

                limits.overflow = Counter(
                    OVERFLOW_METRIC, "Lookups of new label sets sent to the overflow series because the metric "
                    "reached its label-set limit.", ["metric"], registry=None)
            overflow = limits.overflow
        return overflow.labels(metric_name)

    def register(self, collector: Collector) -> None:
        """Add a collector; raises ``DuplicateTimeseries`` if any of its names is taken."""
        with self._lock:
            names = self._get_names(collector)
            duplicates = set(self._names_to_collectors).intersection(names)
            if duplicates:
                raise DuplicateTimeseries(duplicates)
            for name in names:
                self._names_to_collectors[name] = collector
            self._collector_to_names[collector] = names
            if self._support_collectors_without_names and not names:
                self._collectors_without_names.append(collector)

    def unregister(self, collector: Collector) -> None:
        """Remove a collector registered earlier (``KeyError`` if it was not)."""
        with self._lock:
            for name in self._collector_to_names[collector]:
                del self._names_to_collectors[name]
            del self._collector_to_names[collector]
            if collector in self._collectors_without_names:
                self._collectors_without_names.remove(collector)

    def _get_names(self, collector: Collector) -> List[str]:
        desc_func = getattr(collector, "describe", None)
        if not desc_func and self._auto_describe:
            desc_func = collector.collect
        if not desc_func:
            return []
        result = []
        for metric in desc_func():
            result.append(metric.name)
            result.extend(metric.name + suffix for suffix in _TYPE_SUFFIXES.get(metric.type, ()))
        return result

    def _snapshot(self) -> tuple[List[Collector], Optional[Metric]]:
        """Collectors in registration order (the overflow counter last) and the target_info family."""
        with self._lock:
            collectors = list(self._collector_to_names)
            ti = self._target_info_metric() if self._target_info else None
            if self._limits.overflow is not None:
                collectors.append(self._limits.overflow)
        return collectors, ti

    def collect(self) -> Iterable[Metric]:
        """Yield every family from every registered collector."""
        collectors, ti = self._snapshot()
        if ti is not None:
            yield ti
        for collector in collectors:
            yield from collector.collect()

    def restricted_registry(self, names: Iterable[str]) -> RestrictedRegistry:
        """A view that collects only the samples with the given names (the ``name[]`` scrape filter)."""
        return RestrictedRegistry(names, self)

    def set_target_info(self, labels: Optional[Dict[str, str]]) -> None:
        """Set (or with ``None`` clear) the labels of the ``target_info`` series."""
        with self._lock:
            if labels:
                if not self._target_info and "target_info" in self._names_to_collectors:
                    raise ValueError("CollectorRegistry already contains a target_info metric")
                self._names_to_collectors["target_info"] = _EmptyCollector()
            elif self._target_info:
                self._names_to_collectors.pop("target_info", None)
            self._target_info = labels

    def get_target_info(self) -> Optional[Dict[str, str]]:
        """The labels of ``target_info``, if set."""
        with self._lock:
            return self._target_info

    def _target_info_metric(self) -> Metric:
        m = Metric("target", "Target metadata", "info")
        m.add_sample("target_info", dict(self._target_info or {}), 1)
        return m

    def get_sample_value(self, name: str, labels: Optional[Dict[str, str]] = None) -> Optional[float]:
        """The value of one sample, or ``None``; a linear search meant for tests."""
        labels = labels or {}
        for metric in self.collect():
            for s in metric.samples:
                if s.name == name and s.labels == labels:
                    return s.value
        return None


class RestrictedRegistry:
    """A registry view limited to some sample names."""

    def __init__(self, names: Iterable[str], registry: CollectorRegistry) -> None:
        self._name_set = frozenset(names)
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        """Yield the families of the matching collectors, trimmed to the wanted samples."""
        reg = self._registry
        collectors: List[Collector] = list(reg._collectors_without_names)
        ti = None
        with reg._lock:
            if "target_info" in self._name_set and reg._target_info:
                ti = reg._target_info_metric()
            wanted = {reg._names_to_collectors[n] for n in self._name_set
                      if n != "target_info" and n in reg._names_to_collectors}
            # Registration order keeps the restricted scrape's order stable.
            collectors.extend(c for c in reg._collector_to_names if c in wanted and c not in collectors)
        if ti is not None:
            yield ti
        overflow = reg._limits.overflow
        if overflow is not None and not self._name_set.isdisjoint(_OVERFLOW_NAMES):
            collectors.append(overflow)
        for collector in collectors:
            for metric in collector.collect():
                m = metric._restricted_metric(self._name_set)
                if m is not None:
                    yield m


REGISTRY = CollectorRegistry(auto_describe=True)
