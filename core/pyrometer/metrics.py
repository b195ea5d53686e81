"""The six metric types of prometheus_client's API."""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from typing import Any, Callable, Dict, Iterable, List, Literal, Optional, Sequence, Tuple, Type, TypeVar, Union

from . import _native_histogram, values
from ._info_enum import Enum, Info  # noqa: F401  (defined apart; public here, as in prometheus_client.metrics)
from ._quantiles import QuantileSpec
from ._wrapper import MetricWrapperBase, _MetricMethods
from .context_managers import ExceptionCounter, InprogressTracker, Timer
from .registry import REGISTRY, CollectorRegistry
from .samples import Exemplar
from .utils import INF, floatToGoString
from .validation import _validate_exemplar

T = TypeVar("T", bound=MetricWrapperBase)
F = TypeVar("F", bound=Callable[..., Any])

_SampleTuple = Tuple[str, Dict[str, str], float, Any, Any]

_use_created = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in ("true", "1", "t")


def _get_use_created() -> bool:
    return _use_created


def disable_created_metrics() -> None:
    """Stop exporting ``_created`` series for counters, histograms and summaries."""
    global _use_created
    _use_created = False


def enable_created_metrics() -> None:
    """Export ``_created`` series for counters, histograms and summaries (the default)."""
    global _use_created
    _use_created = True


def _exemplar(labels: Dict[str, str], value: float) -> Exemplar:
    _validate_exemplar(labels)
    return Exemplar(labels, value, time.time())


class _CounterMethods(_MetricMethods):
    """What a Counter and its label children share."""

    __slots__ = ()
    _type = "counter"

    def _metric_init(self) -> None:
        self._value = values.new_value(self._type, self._name, self._name + "_total", self._labelnames,
                                       self._labelvalues, self._documentation)
        self._created = time.time()

    def inc(self, amount: float = 1, exemplar: Optional[Dict[str, str]] = None) -> None:
        """Add ``amount`` (never negative); ``exemplar`` labels link this increment to a trace."""
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        self._value.inc(amount)
        if exemplar:
            self._value.set_exemplar(_exemplar(exemplar, amount))

    def reset(self) -> None:
        """Start again from zero, for a logical restart without a process restart."""
        self._raise_if_not_observable()
        self._value.set(0)
        self._created = time.time()

    def count_exceptions(self, exception: Union[Type[BaseException], Tuple[Type[BaseException], ...]] = Exception
                         ) -> ExceptionCounter:
        """Count exceptions of the given type(s) leaving a block or decorated function."""
        self._raise_if_not_observable()
        return ExceptionCounter(self, exception)

    def _get(self) -> float:
        return self._value.get()

    def _get_exemplar(self) -> Optional[Exemplar]:
        return self._value.get_exemplar()

    def _child_samples(self) -> Iterable[_SampleTuple]:
        sample = ("_total", {}, self._get(), None, self._get_exemplar())
        if _use_created:
            return (sample, ("_created", {}, self._created, None, None))
        return (sample,)


class _InlineCounter:
    """Counter methods for a child whose value lives in its own ``_v`` slot (``values.inline_values``)."""

    __slots__ = ()
    _v: float
    _ex: Optional[Exemplar]
    _created: float
    _value = property(values.InlineCell)

    def _metric_init(self) -> None:
        self._v = 0.0
        self._ex = None
        self._created = time.time()

    def inc(self, amount: float = 1, exemplar: Optional[Dict[str, str]] = None) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        self._v += amount  # atomic for the reason values._AtomicValue.inc is
        if exemplar:
            self._ex = _exemplar(exemplar, amount)

    def _get(self) -> float:
        return self._v

    def _get_exemplar(self) -> Optional[Exemplar]:
        return self._ex


class Counter(_CounterMethods, MetricWrapperBase):
    """A value that only goes up: requests served, bytes sent, errors seen.

        c = Counter('jobs_total', 'Jobs processed.')
        c.inc()
        with c.count_exceptions():
            risky()
    """

    _methods = _CounterMethods
    _inline_mixin = _InlineCounter
    _inline_slots = ("_v", "_ex", "_created")


_MULTIPROC_MODES = frozenset(("all", "liveall", "min", "livemin", "max", "livemax",
                              "sum", "livesum", "mostrecent", "livemostrecent"))
_MOST_RECENT_MODES = frozenset(("mostrecent", "livemostrecent"))
_MultiprocMode = Literal["all", "liveall", "min", "livemin", "max", "livemax",
                         "sum", "livesum", "mostrecent", "livemostrecent"]


class _GaugeMethods(_MetricMethods):
    """What a Gauge and its label children share."""

    __slots__ = ()
    _type = "gauge"
    _MULTIPROC_MODES = _MULTIPROC_MODES
    _MOST_RECENT_MODES = _MOST_RECENT_MODES
    _child_slots = ("_value", "_function")
    _multiprocess_mode: str
    _is_most_recent: bool

    def _metric_init(self) -> None:
        self._value = values.new_value(self._type, self._name, self._name, self._labelnames, self._labelvalues,
                                       self._documentation, multiprocess_mode=self._multiprocess_mode)
        self._function: Optional[Callable[[], float]] = None

    def inc(self, amount: float = 1) -> None:
        """Add ``amount``."""
        if self._is_most_recent:
            raise RuntimeError("inc must not be used with the mostrecent mode")
        self._value.inc(amount)

    def dec(self, amount: float = 1) -> None:
        """Subtract ``amount``."""
        if self._is_most_recent:
            raise RuntimeError("dec must not be used with the mostrecent mode")
        self._value.inc(-amount)

    def set(self, value: float) -> None:
        """Set to ``value``."""
        if self._is_most_recent:
            self._value.set(float(value), timestamp=time.time())
        else:
            self._value.set(float(value))

    def set_to_current_time(self) -> None:
        """Set to the current Unix time."""
        self.set(time.time())

    def track_inprogress(self) -> InprogressTracker:
        """Raise the gauge while a block or decorated function runs."""
        self._raise_if_not_observable()
        return InprogressTracker(self)

    def time(self) -> Timer:
        """Set the gauge to the duration in seconds of a block or decorated function."""
        return Timer(self, "set")

    def set_function(self, f: Callable[[], float]) -> None:
        """Take the value from ``f()`` at each scrape; the other methods then have no visible effect."""
        self._raise_if_not_observable()
        if _multiprocess_value(self._value):
            raise ValueError(
                "Gauge.set_function() cannot work in multiprocess mode: the scrape runs in another process. "
                "Call set() from the worker instead, or use a custom collector in the scraping process.")
        self._function = f

    def _get(self) -> float:
        return self._value.get()

    def _child_samples(self) -> Iterable[_SampleTuple]:
        f = self._function
        return (("", {}, float(f()) if f is not None else self._get(), None, None),)


class _InlineGauge:
    """Gauge methods for a child whose value lives in its own ``_v`` slot (``values.inline_values``).

    Never used for the mostrecent modes, whose inc() and dec() refuse: those keep a cell.
    """

    __slots__ = ()
    _v: float
    _ex = None  # gauges keep no exemplar; InlineCell reads this
    _function: Optional[Callable[[], float]]
    _value = property(values.InlineCell)

    def _metric_init(self) -> None:
        self._v = 0.0
        self._function = None

    def inc(self, amount: float = 1) -> None:
        self._v += amount

    def dec(self, amount: float = 1) -> None:
        self._v -= amount

    def set(self, value: float) -> None:
        self._v = float(value)

    def _get(self) -> float:
        return self._v


class Gauge(_GaugeMethods, MetricWrapperBase):
    """A value that goes up and down: queue length, memory in use, requests in progress.

        g = Gauge('queue_length', 'Items waiting.')
        g.set(4); g.inc(); g.dec(2)
        with g.track_inprogress():
            work()
    """

    _methods = _GaugeMethods
    _inline_mixin = _InlineGauge
    _inline_slots = ("_v", "_function")

    def __init__(self, name: str, documentation: str, labelnames: Iterable[str] = (), namespace: str = "",
                 subsystem: str = "", unit: str = "", registry: Optional[CollectorRegistry] = REGISTRY,
                 _labelvalues: Optional[Sequence[str]] = None, multiprocess_mode: _MultiprocMode = "all", *,
                 max_label_sets: Optional[int] = None) -> None:
        if multiprocess_mode not in _MULTIPROC_MODES:
            raise ValueError("Invalid multiprocess mode: " + str(multiprocess_mode))
        self._multiprocess_mode = multiprocess_mode
        self._is_most_recent = multiprocess_mode in _MOST_RECENT_MODES
        if self._is_most_recent:
            self._inline_mixin = None  # its cell timestamps every set(), as prometheus_client's does
        super().__init__(name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues,
                         max_label_sets=max_label_sets)
        self._kwargs["multiprocess_mode"] = multiprocess_mode

    def _child_fields(self) -> Dict[str, Any]:
        return dict(super()._child_fields(), _multiprocess_mode=self._multiprocess_mode,
                    _is_most_recent=self._is_most_recent)


def _multiprocess_value(value: Any) -> bool:
    return bool(getattr(value, "_multiprocess", False))


class _SummaryMethods(_MetricMethods):
    """What a Summary and its label children share."""

    __slots__ = ()
    _type = "summary"
    _reserved_labelnames = ("quantile",)
    _value_attrs = ("_count", "_sum")
    _child_slots = ("_count", "_sum", "_created", "_window")
    _quantile_spec: Any = None

    _MULTIPROCESS_REFUSAL = (
        "Summary objectives are not supported in multiprocess mode (PROMETHEUS_MULTIPROC_DIR is set): each "
        "worker could only estimate quantiles of its own observations, and such estimates cannot be merged "
        "into correct quantiles of all workers. Use a Histogram and histogram_quantile() instead.")

    def _extra_label_name(self) -> str:
        return "quantile"

    def _metric_init(self) -> None:
        self._count = values.new_value(self._type, self._name, self._name + "_count", self._labelnames,
                                       self._labelvalues, self._documentation)
        self._sum = values.new_value(self._type, self._name, self._name + "_sum", self._labelnames,
                                     self._labelvalues, self._documentation)
        self._created = time.time()
        spec = self._quantile_spec
        if spec is not None:
            if _multiprocess_value(self._count):  # multiprocess mode switched on after construction
                raise ValueError(self._MULTIPROCESS_REFUSAL)
            self._window = spec.new_window()

    def observe(self, amount: float) -> None:
        """Record one observation (negative values break ``rate()`` of the sum)."""
        self._count.inc(1)
        self._sum.inc(amount)

    def _observe_with_quantiles(self, amount: float) -> None:
        self._count.inc(1)
        self._sum.inc(amount)
        self._window.observe(amount)

    def time(self) -> Timer:
        """Observe the duration in seconds of a block or decorated function."""
        return Timer(self, "observe")

    def _quantile_lines(self, child: Any) -> str:
        """The ``name{...,quantile="q"} value`` lines of one child, for the writers' direct path."""
        _, head, tail = self._bucket_label_parts(child)
        name = self._name
        return "".join(f'{name}{head}quantile="{q}"{tail} {floatToGoString(v)}\n'
                       for q, v in zip(self._quantile_spec.labels, child._window.query()))

    def _child_samples(self) -> Iterable[_SampleTuple]:
        samples: List[_SampleTuple] = []
        spec = self._quantile_spec
        if spec is not None:
            samples = [("", {"quantile": q}, v, None, None) for q, v in zip(spec.labels, self._window.query())]
        samples.append(("_count", {}, self._count.get(), None, None))
        samples.append(("_sum", {}, self._sum.get(), None, None))
        if _use_created:
            samples.append(("_created", {}, self._created, None, None))
        return samples


class _InlineSummary:
    """Summary methods for a child keeping its count and sum in its own slots (``values.inline_values``)."""

    __slots__ = ()
    _c: float
    _s: float
    _created: float
    _ex = None  # summaries keep no exemplar; the cell views read this
    _count = property(values.InlineSummaryCount)
    _sum = property(values.InlineSummarySum)

    def _metric_init(self) -> None:
        self._c = 0.0
        self._s = 0.0
        self._created = time.time()

    def observe(self, amount: float) -> None:
        self._c += 1.0  # each += atomic for the reason values._AtomicValue.inc is
        self._s += amount


class Summary(_SummaryMethods, MetricWrapperBase):
    """Count and sum of observations, e.g. request sizes or latencies; quantiles when given ``objectives``.

        s = Summary('request_size_bytes', 'Request size.')
        s.observe(512)
        with s.time():
            work()

    ``objectives={0.5: 0.05, 0.99: 0.001}`` (pyrometer only) also exports
    ``name{quantile="0.5"}`` for each quantile, estimated over the last
    ``max_age`` seconds within the given rank error (see docs/summary-quantiles.md).
    Quantiles cannot be combined across processes or instances: prefer a
    Histogram when they must be aggregated. Refused in multiprocess mode.
    """

    _methods = _SummaryMethods
    _inline_mixin = _InlineSummary
    _inline_slots = ("_c", "_s", "_created")

    def __init__(self, name: str, documentation: str, labelnames: Iterable[str] = (), namespace: str = "",
                 subsystem: str = "", unit: str = "", registry: Optional[CollectorRegistry] = REGISTRY,
                 _labelvalues: Optional[Sequence[str]] = None, *, objectives: Optional[Dict[float, float]] = None,
                 max_age: float = 600.0, age_buckets: int = 5, buffer_size: int = 500,
                 max_label_sets: Optional[int] = None) -> None:
        spec = QuantileSpec.build(objectives, max_age, age_buckets, buffer_size)
        if spec is not None:
            if values._multiprocess_identity() is not None:
                raise ValueError(self._MULTIPROCESS_REFUSAL)
            self._quantile_spec = spec
            self._inline_mixin = None  # its observe also feeds the quantile window: cells, as before
        super().__init__(name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues,
                         max_label_sets=max_label_sets)
        if spec is not None:
            self._kwargs.update(objectives=dict(objectives or {}), max_age=max_age, age_buckets=age_buckets,
                                buffer_size=buffer_size)
            if self._metrics is None:  # labelled parents keep the plain observe(), which refuses them
                self.observe = self._observe_with_quantiles  # type: ignore[method-assign]

    def _child_fields(self) -> Dict[str, Any]:
        fields = dict(super()._child_fields(), _quantile_spec=self._quantile_spec)
        if self._quantile_spec is not None:
            # Chosen once per parent, so the plain observe() carries no test for objectives.
            fields["observe"] = Summary._observe_with_quantiles
        return fields


class _HistogramMethods(_MetricMethods):
    """What a Histogram and its label children share."""

    __slots__ = ()
    _type = "histogram"
    _reserved_labelnames = ("le",)
    _native: Optional[_native_histogram.NativeConfig] = None

    def _extra_label_name(self) -> str:
        return "le"

    def _metric_init(self) -> None:
        if self._native is not None:
            self._value = _native_histogram.new_state(self._native, self._upper_bounds, self._name, _exemplar,
                                                      self._documentation, self._labelnames, self._labelvalues,
                                                      self._le)
            self.observe = self._value.observe  # type: ignore[method-assign]
        else:
            self._value = values.new_histogram_counts(len(self._upper_bounds), self._name, self._labelnames,
                                                      self._labelvalues, self._documentation, self._le)
        self._created = time.time()

    def observe(self, amount: float, exemplar: Optional[Dict[str, str]] = None) -> None:
        """Record one observation; ``exemplar`` labels link its bucket to a trace."""
        i = bisect_left(self._upper_bounds, amount)
        if not i and amount != amount:  # NaN compares false to every bound (bisect gives 0); Go counts it in +Inf
            i = len(self._upper_bounds) - 1
        self._value.observe(i, amount)
        if exemplar:
            self._value.set_exemplar(i, _exemplar(exemplar, amount))

    def time(self) -> Timer:
        """Observe the duration in seconds of a block or decorated function."""
        return Timer(self, "observe")

    def _child_samples(self) -> Iterable[_SampleTuple]:
        if self._native is not None:
            counts, total, count = self._value.snapshot_with_native()
        else:
            counts, total = self._value.snapshot()
            count = counts[-1]
        exemplars = self._value.exemplars() or [None] * len(counts)
        samples: List[_SampleTuple] = [("_bucket", {"le": le}, c, None, ex)
                                       for le, c, ex in zip(self._le, counts, exemplars)]
        samples.append(("_count", {}, count, None, None))
        if self._upper_bounds[0] >= 0:
            samples.append(("_sum", {}, total, None, None))
        if _use_created:
            samples.append(("_created", {}, self._created, None, None))
        return samples


class _InlineHistogram:
    """Histogram methods for a classic child keeping its bucket counts and sum in its own slots
    (``values.inline_values``)."""

    __slots__ = ()
    _upper_bounds: List[float]
    _counts: List[float]
    _sum: float
    _exemplars: Optional[List[Optional[Exemplar]]]
    _created: float
    _value = property(values.InlineHistogramCounts)

    def _metric_init(self) -> None:
        self._counts = [0.0] * len(self._upper_bounds)
        self._sum = 0.0
        self._exemplars = None
        self._created = time.time()

    def observe(self, amount: float, exemplar: Optional[Dict[str, str]] = None) -> None:
        i = bisect_left(self._upper_bounds, amount)
        if not i and amount != amount:  # NaN: see _HistogramMethods.observe
            i = len(self._upper_bounds) - 1
        # Each += is atomic for the reason values._AtomicValue.inc is (as in values._HistogramCounts.observe).
        self._counts[i] += 1.0
        self._sum += amount
        if exemplar:
            self._value.set_exemplar(i, _exemplar(exemplar, amount))


class Histogram(_HistogramMethods, MetricWrapperBase):
    """Observations counted into buckets, for quantiles computed by Prometheus.

        h = Histogram('request_latency_seconds', 'Latency.', buckets=(.1, .5, 1))
        h.observe(0.3)
        with h.time():
            work()

    ``+Inf`` is appended to the buckets when missing.

    ``native=True`` adds a native (sparse, exponential) histogram, exposed in the
    protobuf format; see docs/native-histograms.md. Its options, named after the
    Go client's: ``native_bucket_factor`` (max growth from one bucket boundary to
    the next, picks the schema; 1.1 gives schema 3), ``native_zero_threshold``
    (observations with ``|v| <=`` it count in the zero bucket), ``native_max_buckets``
    (0: no limit), ``native_min_reset_duration`` (seconds after which hitting the
    limit resets the histogram instead of coarsening it) and
    ``native_max_zero_threshold`` (how far the zero bucket may widen to stay in
    the limit; 0, the default, never widens it). With ``native=True`` classic
    buckets are kept only when ``buckets`` is passed; the text formats then show
    them, else only ``+Inf``, ``_count`` and ``_sum``. In multiprocess mode each
    worker keeps its own native buckets and the scrape merges them (see
    docs/multiprocess.md).
    """

    _methods = _HistogramMethods
    _inline_mixin = _InlineHistogram
    _inline_slots = ("_counts", "_sum", "_exemplars", "_created")
    DEFAULT_BUCKETS: Tuple[float, ...] = (.005, .01, .025, .05, .075, .1, .25, .5, .75, 1.0, 2.5, 5.0, 7.5, 10.0, INF)

    def __init__(self, name: str, documentation: str, labelnames: Iterable[str] = (), namespace: str = "",
                 subsystem: str = "", unit: str = "", registry: Optional[CollectorRegistry] = REGISTRY,
                 _labelvalues: Optional[Sequence[str]] = None,
                 buckets: Sequence[Union[float, str]] = DEFAULT_BUCKETS, *, native: bool = False,
                 native_bucket_factor: float = _native_histogram.DEFAULT_BUCKET_FACTOR,
                 native_zero_threshold: float = _native_histogram.DEFAULT_ZERO_THRESHOLD,
                 native_max_buckets: int = _native_histogram.DEFAULT_MAX_BUCKETS,
                 native_min_reset_duration: Optional[float] = None, native_max_zero_threshold: float = 0.0,
                 max_label_sets: Optional[int] = None) -> None:
        if native:
            self._native = _native_histogram.NativeConfig(native_bucket_factor, native_zero_threshold,
                                                          native_max_buckets, native_min_reset_duration,
                                                          native_max_zero_threshold)
            # A child's observe is its native state's, chosen at creation: classic histograms pay nothing.
            self._child_slots = (*self._child_slots, "observe")
            self._inline_mixin = None
            if buckets is Histogram.DEFAULT_BUCKETS or not len(buckets):
                buckets = (INF,)
        self._prepare_buckets(buckets)
        super().__init__(name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues,
                         max_label_sets=max_label_sets)
        self._kwargs["buckets"] = buckets
        if native:
            self._kwargs.update(native=True, native_bucket_factor=native_bucket_factor,
                                native_zero_threshold=native_zero_threshold, native_max_buckets=native_max_buckets,
                                native_min_reset_duration=native_min_reset_duration,
                                native_max_zero_threshold=native_max_zero_threshold)

    def _prepare_buckets(self, source_buckets: Sequence[Union[float, str]]) -> None:
        buckets = [float(b) for b in source_buckets]
        if buckets != sorted(buckets):
            raise ValueError("Buckets not in sorted order")
        if buckets and buckets[-1] != INF:
            buckets.append(INF)
        if len(buckets) < 2 and self._native is None:
            raise ValueError("Must have at least two buckets")
        if len(set(buckets)) != len(buckets):
            raise ValueError(f"Duplicate bucket bounds in {buckets}")
        self._upper_bounds = buckets
        self._le = tuple(floatToGoString(b) for b in buckets)

    def _child_fields(self) -> Dict[str, Any]:
        fields = dict(super()._child_fields(), _upper_bounds=self._upper_bounds, _le=self._le)
        if self._native is not None:
            fields["_native"] = self._native
        return fields
