"""Metric families: what collectors yield and exposition writers read."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

from .samples import Exemplar, NativeHistogram, Sample, Timestamp
from .validation import _validate_metric_name

METRIC_TYPES = (
    "counter", "gauge", "summary", "histogram",
    "gaugehistogram", "unknown", "info", "stateset",
)

_TimestampArg = Optional[Union[Timestamp, float]]


class Metric:
    """A metric family: name, help, type, unit and its samples.

    Custom collectors should prefer the ``*MetricFamily`` subclasses.
    """

    def __init__(self, name: str, documentation: str, typ: str, unit: str = "") -> None:
        if unit and not name.endswith("_" + unit):
            name += "_" + unit
        _validate_metric_name(name)
        if typ == "untyped":
            typ = "unknown"
        if typ not in METRIC_TYPES:
            raise ValueError("Invalid metric type: " + typ)
        self.name: str = name
        self.documentation: str = documentation
        self.unit: str = unit
        self.type: str = typ
        self.samples: List[Sample] = []

    def add_sample(
        self,
        name: str,
        labels: Dict[str, str],
        value: float,
        timestamp: _TimestampArg = None,
        exemplar: Optional[Exemplar] = None,
        native_histogram: Optional[NativeHistogram] = None,
    ) -> None:
        """Append one sample (low level; families offer ``add_metric``)."""
        self.samples.append(Sample(name, labels, value, timestamp, exemplar, native_histogram))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Metric)
            and self.name == other.name
            and self.documentation == other.documentation
            and self.type == other.type
            and self.unit == other.unit
            and self.samples == other.samples
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return f"Metric({self.name}, {self.documentation}, {self.type}, {self.unit}, {self.samples})"

    def _restricted_metric(self, names: set[str] | frozenset[str]) -> Optional[Metric]:
        samples = [s for s in self.samples if s.name in names]
        if not samples:
            return None
        m = Metric(self.name, self.documentation, self.type)
        m.samples = samples
        return m


class _Family(Metric):
    """Shared constructor logic: either one unlabelled value or label names."""

    _type = ""

    def _init_family(self, name: str, documentation: str, labels: Optional[Sequence[str]], unit: str) -> None:
        Metric.__init__(self, name, documentation, self._type, unit)
        self._labelnames: Tuple[str, ...] = tuple(labels or ())

    def _labels(self, values: Sequence[str]) -> Dict[str, str]:
        return dict(zip(self._labelnames, values))


def _only_one(labels: object, value: object, what: str = "value") -> None:
    if labels is not None and value is not None:
        raise ValueError(f"Can only specify at most one of {what} and labels.")


class _SingleSampleFamily(_Family):
    """A family whose series are one plain sample each (unknown and gauge)."""

    def __init__(self, name: str, documentation: str, value: Optional[float] = None,
                 labels: Optional[Sequence[str]] = None, unit: str = "") -> None:
        self._init_family(name, documentation, labels, unit)
        _only_one(labels, value)
        if value is not None:
            self.add_metric([], value)

    def add_metric(self, labels: Sequence[str], value: float, timestamp: _TimestampArg = None) -> None:
        """Add one series with the given label values."""
        self.samples.append(Sample(self.name, self._labels(labels), value, timestamp))


class UnknownMetricFamily(_SingleSampleFamily):
    """An untyped metric family, for custom collectors."""

    _type = "unknown"


UntypedMetricFamily = UnknownMetricFamily


class CounterMetricFamily(_Family):
    """A counter family, for custom collectors (a trailing ``_total`` is dropped from the name)."""

    _type = "counter"

    def __init__(self, name: str, documentation: str, value: Optional[float] = None,
                 labels: Optional[Sequence[str]] = None, created: Optional[float] = None,
                 unit: str = "", exemplar: Optional[Exemplar] = None) -> None:
        if name.endswith("_total"):
            name = name[:-6]
        self._init_family(name, documentation, labels, unit)
        _only_one(labels, value)
        if value is not None:
            self.add_metric([], value, created, exemplar=exemplar)

    def add_metric(self, labels: Sequence[str], value: float, created: Optional[float] = None,
                   timestamp: _TimestampArg = None, exemplar: Optional[Exemplar] = None) -> None:
        """Add one series; ``created`` adds its ``_created`` sample."""
        lbl = self._labels(labels)
        self.samples.append(Sample(self.name + "_total", lbl, value, timestamp, exemplar))
        if created is not None:
            self.samples.append(Sample(self.name + "_created", dict(lbl), created, timestamp))


class GaugeMetricFamily(_SingleSampleFamily):
    """A gauge family, for custom collectors."""

    _type = "gauge"


class SummaryMetricFamily(_Family):
    """A summary family (count and sum), for custom collectors."""

    _type = "summary"

    def __init__(self, name: str, documentation: str, count_value: Optional[int] = None,
                 sum_value: Optional[float] = None, labels: Optional[Sequence[str]] = None,
                 unit: str = "") -> None:
        self._init_family(name, documentation, labels, unit)
        if (sum_value is None) != (count_value is None):
            raise ValueError("count_value and sum_value must be provided together.")
        _only_one(labels, count_value)
        if count_value is not None and sum_value is not None:
            self.add_metric([], count_value, sum_value)

    def add_metric(self, labels: Sequence[str], count_value: int, sum_value: float,
                   timestamp: _TimestampArg = None) -> None:
        """Add one series' count and sum."""
        lbl = self._labels(labels)
        self.samples.append(Sample(self.name + "_count", lbl, count_value, timestamp))
        self.samples.append(Sample(self.name + "_sum", dict(lbl), sum_value, timestamp))


_Bucket = Union[Tuple[str, float], Tuple[str, float, Exemplar]]


class HistogramMetricFamily(_Family):
    """A histogram family, for custom collectors; buckets are cumulative ``(le, count)`` pairs ending at ``+Inf``."""

    _type = "histogram"

    def __init__(self, name: str, documentation: str, buckets: Optional[Sequence[_Bucket]] = None,
                 sum_value: Optional[float] = None, labels: Optional[Sequence[str]] = None,
                 unit: str = "") -> None:
        self._init_family(name, documentation, labels, unit)
        if sum_value is not None and buckets is None:
            raise ValueError("sum value cannot be provided without buckets.")
        _only_one(labels, buckets, "buckets")
        if buckets is not None:
            self.add_metric([], buckets, sum_value)

    def add_metric(self, labels: Sequence[str], buckets: Sequence[_Bucket],
                   sum_value: Optional[float], timestamp: _TimestampArg = None) -> None:
        """Add one series: its buckets, then count and sum (omitted when buckets go negative)."""
        base = list(zip(self._labelnames, labels))
        for b in buckets:
            exemplar = b[2] if len(b) == 3 else None  # type: ignore[misc]
            self.samples.append(Sample(self.name + "_bucket", dict(base + [("le", b[0])]), b[1], timestamp, exemplar))
        if sum_value is not None and float(buckets[0][0]) >= 0:
            self.samples.append(Sample(self.name + "_count", dict(base), buckets[-1][1], timestamp))
            self.samples.append(Sample(self.name + "_sum", dict(base), sum_value, timestamp))


class GaugeHistogramMetricFamily(_Family):
    """A gauge histogram family, for custom collectors."""

    _type = "gaugehistogram"

    def __init__(self, name: str, documentation: str, buckets: Optional[Sequence[Tuple[str, float]]] = None,
                 gsum_value: Optional[float] = None, labels: Optional[Sequence[str]] = None,
                 unit: str = "") -> None:
        self._init_family(name, documentation, labels, unit)
        _only_one(labels, buckets, "buckets")
        if buckets is not None:
            self.add_metric([], buckets, gsum_value)

    def add_metric(self, labels: Sequence[str], buckets: Sequence[Tuple[str, float]],
                   gsum_value: Optional[float], timestamp: _TimestampArg = None) -> None:
        """Add one series: its buckets, then ``_gcount`` and ``_gsum``."""
        base = list(zip(self._labelnames, labels))
        for le, value in buckets:
            self.samples.append(Sample(self.name + "_bucket", dict(base + [("le", le)]), value, timestamp))
        self.samples.append(Sample(self.name + "_gcount", dict(base), buckets[-1][1], timestamp))
        self.samples.append(Sample(self.name + "_gsum", dict(base), gsum_value, timestamp))  # type: ignore[arg-type]


class InfoMetricFamily(_Family):
    """An info family (constant key-value pairs), for custom collectors."""

    _type = "info"

    def __init__(self, name: str, documentation: str, value: Optional[Dict[str, str]] = None,
                 labels: Optional[Sequence[str]] = None) -> None:
        self._init_family(name, documentation, labels, "")
        _only_one(labels, value)
        if value is not None:
            self.add_metric([], value)

    def add_metric(self, labels: Sequence[str], value: Dict[str, str], timestamp: _TimestampArg = None) -> None:
        """Add one series whose labels are the label values plus ``value``."""
        self.samples.append(Sample(self.name + "_info", dict(self._labels(labels), **value), 1, timestamp))


class StateSetMetricFamily(_Family):
    """A state set family (named booleans), for custom collectors."""

    _type = "stateset"

    def __init__(self, name: str, documentation: str, value: Optional[Dict[str, bool]] = None,
                 labels: Optional[Sequence[str]] = None) -> None:
        self._init_family(name, documentation, labels, "")
        _only_one(labels, value)
        if value is not None:
            self.add_metric([], value)

    def add_metric(self, labels: Sequence[str], value: Dict[str, bool], timestamp: _TimestampArg = None) -> None:
        """Add one sample per state, 1 for the states that hold."""
        names = self._labelnames + (self.name,)
        for state, enabled in sorted(value.items()):
            lbl = dict(zip(names, tuple(labels) + (state,)))
            self.samples.append(Sample(self.name, lbl, 1 if enabled else 0, timestamp))
