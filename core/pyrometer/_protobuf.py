"""The Prometheus protobuf exposition format: length-delimited ``io.prometheus.client.MetricFamily`` messages.

The only format that carries native histograms to Prometheus 2.x. A small
hand-written encoder of the fields of ``metrics.proto`` (prometheus/client_model)
that pyrometer produces, so the core needs no protobuf library. It works from
the collected metric families like every writer; a native histogram child's
native part travels as the value of its ``_count`` sample (see
``_native_histogram.NativeCount``) or, from custom collectors, as a sample's
``native_histogram``.

Info and state-set families go out as gauges (``<name>_info`` with value 1, and
one series per state with value 1 or 0), as in the Go and Java clients; unknown
families as untyped; ``_created`` samples become ``created_timestamp`` fields.
"""

from __future__ import annotations

import math
import struct
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from ._native_histogram import NativeCount
from .metrics_core import Metric
from .registry import REGISTRY, Collector
from .samples import Exemplar, NativeHistogram, Sample, Timestamp

CONTENT_TYPE_PROTOBUF = ("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
                         "encoding=delimited")
"""Content type of the Prometheus protobuf format (length-delimited ``MetricFamily`` messages)."""

# MetricType enum values.
_COUNTER, _GAUGE, _SUMMARY, _UNTYPED, _HISTOGRAM, _GAUGE_HISTOGRAM = 0, 1, 2, 3, 4, 5
_TYPES = {"counter": _COUNTER, "gauge": _GAUGE, "info": _GAUGE, "stateset": _GAUGE, "summary": _SUMMARY,
          "unknown": _UNTYPED, "histogram": _HISTOGRAM, "gaugehistogram": _GAUGE_HISTOGRAM}
# Wire types.
_VARINT, _I64, _LEN = 0, 1, 2
_pack_double = struct.Struct("<d").pack


# -- wire primitives ------------------------------------------------------------

def _varint(n: int) -> bytes:
    if n < 0:
        n &= (1 << 64) - 1  # int64: two's complement, ten bytes
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _uint(field: int, n: int) -> bytes:
    return _tag(field, _VARINT) + _varint(n)


def _sint(field: int, n: int) -> bytes:
    return _tag(field, _VARINT) + _varint((n << 1) ^ (n >> 63) if n < 0 else n << 1)


def _double(field: int, value: float) -> bytes:
    return _tag(field, _I64) + _pack_double(value)


def _bytes(field: int, payload: bytes) -> bytes:
    return _tag(field, _LEN) + _varint(len(payload)) + payload


def _string(field: int, text: str) -> bytes:
    return _bytes(field, text.encode("utf-8"))


# -- messages ---------------------------------------------------------------------

def _labels(field: int, labels: Dict[str, str]) -> bytes:
    return b"".join(_bytes(field, _string(1, k) + _string(2, v)) for k, v in sorted(labels.items()))


def _timestamp(field: int, when: Union[float, Timestamp]) -> bytes:
    """A google.protobuf.Timestamp (seconds, nanos >= 0) from Unix seconds."""
    if isinstance(when, Timestamp):
        seconds, nanos = when.sec, when.nsec
        if nanos < 0:
            seconds, nanos = seconds - 1, nanos + 1_000_000_000
    else:
        seconds = math.floor(when)
        nanos = min(round((when - seconds) * 1e9), 999_999_999)
    body = (_uint(1, seconds) if seconds else b"") + (_uint(2, nanos) if nanos else b"")
    return _bytes(field, body)


def _exemplar(field: int, ex: Exemplar) -> bytes:
    body = _labels(1, ex.labels) + _double(2, ex.value)
    if ex.timestamp is not None:
        body += _timestamp(3, ex.timestamp)
    return _bytes(field, body)


def _count(field: int, float_field: int, value: float) -> bytes:
    """A count as the uint64 field, or the double field when it is not a whole number."""
    if value >= 0 and value == int(value):
        return _uint(field, int(value))
    return _double(float_field, value)


def _spans(field: int, spans: Iterable[Tuple[int, int]]) -> bytes:
    return b"".join(_bytes(field, _sint(1, offset) + _uint(2, length)) for offset, length in spans)


def _native(nh: NativeHistogram) -> bytes:
    """The native fields of a Histogram message (schema, zero bucket, spans, deltas)."""
    out = [_sint(5, nh.schema), _double(6, nh.zero_threshold), _count(7, 8, nh.zero_count)]
    pos_spans = list(nh.pos_spans or ())
    if not nh.zero_threshold and not nh.zero_count and not pos_spans and not nh.neg_spans:
        pos_spans = [(0, 0)]  # a no-op span: without it an empty native histogram looks classic
    out.append(_spans(9, nh.neg_spans or ()))
    out.extend(_sint(10, d) for d in nh.neg_deltas or ())
    out.append(_spans(12, pos_spans))
    out.extend(_sint(13, d) for d in nh.pos_deltas or ())
    return b"".join(out)


# -- families ---------------------------------------------------------------------

class _Series:
    """The samples of one series (one label set) of a family, gathered by role."""

    __slots__ = ("buckets", "count", "created", "labels", "native", "quantiles", "sum", "timestamp", "value")

    def __init__(self, labels: Dict[str, str]) -> None:
        self.labels = labels
        self.value: Optional[Sample] = None
        self.count: Optional[float] = None
        self.sum: Optional[float] = None
        self.created: Optional[float] = None
        self.timestamp: Any = None
        self.native: Optional[NativeHistogram] = None
        self.buckets: List[Sample] = []
        self.quantiles: List[Sample] = []


def _group(metric: Metric, name: str) -> List[_Series]:
    """The family's samples by series, in order of first appearance."""
    series: Dict[Tuple[Tuple[str, str], ...], _Series] = {}
    typ = metric.type
    split = "le" if typ in ("histogram", "gaugehistogram") else "quantile" if typ == "summary" else ""
    count_suffix, sum_suffix = ("_gcount", "_gsum") if typ == "gaugehistogram" else ("_count", "_sum")
    for s in metric.samples:
        labels = {k: v for k, v in s.labels.items() if k != split} if split and split in s.labels else s.labels
        key = tuple(sorted(labels.items()))
        one = series.get(key)
        if one is None:
            one = series[key] = _Series(labels)
        if s.timestamp is not None and one.timestamp is None:
            one.timestamp = s.timestamp
        suffix = s.name[len(metric.name):] if s.name.startswith(metric.name) else None
        if s.native_histogram is not None:
            one.native = s.native_histogram
        elif suffix == "_created":
            one.created = s.value
        elif split and suffix == count_suffix:
            one.count = s.value
            if isinstance(s.value, NativeCount):
                one.native = s.value.native
        elif split and suffix == sum_suffix:
            one.sum = s.value
        elif typ in ("histogram", "gaugehistogram") and suffix == "_bucket":
            one.buckets.append(s)
        elif typ == "summary" and s.name == metric.name:
            one.quantiles.append(s)
        elif s.name == name:
            one.value = s
    return list(series.values())


def _histogram(one: _Series) -> bytes:
    out: List[bytes] = []
    count = one.count
    if count is None:  # no _count sample (negative buckets): the native count, else the +Inf bucket
        count = one.native.count_value if one.native is not None else next(
            (b.value for b in one.buckets if float(b.labels["le"]) == math.inf), None)
    if count is not None:
        out.append(_count(1, 4, count))
    if one.sum is not None:
        out.append(_double(2, one.sum))
    elif one.native is not None:
        out.append(_double(2, one.native.sum_value))
    for b in one.buckets:
        bound = float(b.labels["le"])
        if bound == math.inf and b.exemplar is None:
            continue  # implicit: the count
        body = _count(1, 4, b.value) + _double(2, bound)
        if b.exemplar is not None:
            body += _exemplar(3, b.exemplar)
        out.append(_bytes(3, body))
    if one.native is not None:
        out.append(_native(one.native))
    if one.created is not None:
        out.append(_timestamp(15, one.created))
    return b"".join(out)


def _summary(one: _Series) -> bytes:
    count = one.count or 0.0
    out = [_uint(1, int(count) if 0 <= count < math.inf else 0), _double(2, one.sum if one.sum is not None else 0.0)]
    for q in one.quantiles:
        out.append(_bytes(3, _double(1, float(q.labels["quantile"])) + _double(2, q.value)))
    if one.created is not None:
        out.append(_timestamp(4, one.created))
    return b"".join(out)


def _metric(typ: int, one: _Series) -> Optional[bytes]:
    if typ in (_HISTOGRAM, _GAUGE_HISTOGRAM):
        body = _bytes(7, _histogram(one))
    elif typ == _SUMMARY:
        body = _bytes(4, _summary(one))
    else:
        if one.value is None:
            return None  # e.g. a counter with only a _created sample
        value = _double(1, one.value.value)
        if typ == _COUNTER:
            if one.value.exemplar is not None:
                value += _exemplar(2, one.value.exemplar)
            if one.created is not None:
                value += _timestamp(3, one.created)
            body = _bytes(3, value)
        else:
            body = _bytes(2 if typ == _GAUGE else 5, value)
    out = _labels(1, one.labels) + body
    if one.timestamp is not None:
        out += _tag(6, _VARINT) + _varint(int(float(one.timestamp) * 1000))
    return out


def encode_family(metric: Metric) -> Optional[bytes]:
    """One ``MetricFamily`` message (without its length prefix); ``None`` for a family without series."""
    name = metric.name
    if metric.type == "counter":
        name += "_total"
    elif metric.type == "info":
        name += "_info"
    typ = _TYPES[metric.type]
    metrics = [body for body in (_metric(typ, one) for one in _group(metric, name)) if body is not None]
    if not metrics:
        return None  # like the Go and Java clients: a labelled metric without children sends nothing
    out = [_string(1, name), _string(2, metric.documentation), _uint(3, typ)]
    out.extend(_bytes(4, body) for body in metrics)
    if metric.unit:
        out.append(_string(5, metric.unit))
    return b"".join(out)


def generate_latest(registry: Collector = REGISTRY) -> bytes:
    """Every family of ``registry`` as varint-length-prefixed ``MetricFamily`` messages."""
    out = bytearray()
    for metric in registry.collect():
        try:
            body = encode_family(metric)
        except Exception as exc:
            exc.args = (exc.args or ("",)) + (metric,)
            raise
        if body is None:
            continue
        out += _varint(len(body))
        out += body
    return bytes(out)
