"""The protobuf exposition (pyrometer._protobuf), decoded with the real protobuf runtime, and its negotiation."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, Dict, Iterable, List, Tuple

import pytest
from _metrics_proto import absolute, decode
from pyrometer import _protobuf
from pyrometer._negotiation import choose_encoder, serve
from pyrometer._text_format import generate_latest as text_latest
from pyrometer.metrics import Counter, Enum, Gauge, Histogram, Info, Summary
from pyrometer.metrics_core import (
    GaugeHistogramMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from pyrometer.registry import CollectorRegistry
from pyrometer.samples import BucketSpan, Exemplar, NativeHistogram, Timestamp

PROMETHEUS_ACCEPT = ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
                     "application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;"
                     "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


class Static:
    """A custom collector returning fixed families."""

    def __init__(self, *families: Metric) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def labels(m: Any) -> Dict[str, str]:
    return {p.name: p.value for p in m.label}


def test_exact_bytes_of_a_gauge_family() -> None:
    """The wire format itself: varint size prefix, then name, help, type and one metric with its double."""
    registry = CollectorRegistry()
    Gauge("g", "G.", registry=registry).set(3)
    assert _protobuf.generate_latest(registry) == (
        b"\x16"  # 22 bytes follow
        b"\x0a\x01g" b"\x12\x02G." b"\x18\x01"  # name, help, type GAUGE
        b"\x22\x0b" b"\x12\x09" b"\x09" b"\x00\x00\x00\x00\x00\x00\x08\x40")  # metric { gauge { 3.0 } }


def test_families_without_series_are_left_out() -> None:
    """A labelled metric without children (and an empty custom family) sends no MetricFamily at all."""
    registry = CollectorRegistry()
    Counter("unused", "Unused.", ["path"], registry=registry)
    registry.register(Static(Metric("empty", "Empty.", "gauge")))  # type: ignore[arg-type]
    Gauge("g", "G.", registry=registry).set(1)
    assert [f.name for f in decode(_protobuf.generate_latest(registry))] == ["g"]


def test_every_builtin_type_decodes(clock: SimpleNamespace) -> None:
    """Counters, gauges, summaries, histograms, info and enums come out with the Go client's shapes."""
    registry = CollectorRegistry()
    c = Counter("requests", "Requests.", ["path"], registry=registry)
    c.labels("/a").inc(3, {"trace_id": "abc"})
    Gauge("temperature", "Temp.", registry=registry, unit="celsius").set(21.5)
    Summary("size", "Size.", registry=registry).observe(7)
    Histogram("classic", "Classic.", registry=registry, buckets=[1, 2]).observe(1.5, {"trace_id": "def"})
    Info("build", "Build.", registry=registry).info({"version": "1.2"})
    Enum("state", "State.", registry=registry, states=["up", "down"]).state("down")
    families = {f.name: f for f in decode(_protobuf.generate_latest(registry))}
    assert list(families) == ["requests_total", "temperature_celsius", "size", "classic", "build_info", "state"]

    counter = families["requests_total"]
    assert (counter.help, counter.type, len(counter.metric)) == ("Requests.", 0, 1)
    (m,) = counter.metric
    assert labels(m) == {"path": "/a"} and m.counter.value == 3.0
    assert labels(m.counter.exemplar) == {"trace_id": "abc"} and m.counter.exemplar.value == 3.0
    assert (m.counter.exemplar.timestamp.seconds, m.counter.exemplar.timestamp.nanos) == (1000, 0)
    assert (m.counter.created_timestamp.seconds, m.counter.created_timestamp.nanos) == (1000, 0)

    gauge = families["temperature_celsius"]
    assert (gauge.type, gauge.unit, gauge.metric[0].gauge.value) == (1, "celsius", 21.5)

    summary = families["size"].metric[0].summary
    assert (families["size"].type, summary.sample_count, summary.sample_sum, len(summary.quantile)) == (2, 1, 7.0, 0)
    assert summary.created_timestamp.seconds == 1000

    hist = families["classic"].metric[0].histogram
    assert (families["classic"].type, hist.sample_count, hist.sample_sum) == (4, 1, 1.5)
    assert [(b.upper_bound, b.cumulative_count) for b in hist.bucket] == [(1.0, 0), (2.0, 1)]
    assert labels(hist.bucket[1].exemplar) == {"trace_id": "def"} and not hist.bucket[0].HasField("exemplar")
    assert not hist.HasField("schema") and not hist.positive_span and hist.created_timestamp.seconds == 1000

    info = families["build_info"]
    assert (info.type, labels(info.metric[0]), info.metric[0].gauge.value) == (1, {"version": "1.2"}, 1.0)
    state = families["state"]
    assert [(labels(m), m.gauge.value) for m in state.metric] == [({"state": "up"}, 0.0), ({"state": "down"}, 1.0)]


def test_native_histogram_fields(clock: SimpleNamespace) -> None:
    """Schema, zero bucket, spans and deltas decode to exactly the state's buckets; count and sum as usual."""
    registry = CollectorRegistry()
    h = Histogram("lat", "Lat.", ["path"], registry=registry, native=True)
    child = h.labels("/x")
    observed = [0.1, 0.2, 0.2, 1.0, 5.0, 5.1, -3.0, -0.001, 0.0, math.inf]
    for v in observed:
        child.observe(v)
    (family,) = decode(_protobuf.generate_latest(registry))
    assert (family.name, family.help, family.type) == ("lat", "Lat.", 4)
    (m,) = family.metric
    hist = m.histogram
    assert labels(m) == {"path": "/x"}
    schema, zt, zero, pos, neg = child._value.buckets()
    assert (hist.schema, hist.zero_threshold, hist.zero_count) == (3, 2.0 ** -128, 1) == (schema, zt, zero)
    assert (hist.sample_count, hist.sample_sum) == (10, math.inf)
    assert absolute(hist.positive_span, hist.positive_delta) == pos
    assert absolute(hist.negative_span, hist.negative_delta) == neg
    assert sum(pos.values()) + sum(neg.values()) + zero == len(observed)
    assert not hist.bucket and hist.created_timestamp.seconds == 1000


def test_native_with_classic_buckets_and_exemplar() -> None:
    """native=True with buckets= sends both; an exemplar on +Inf brings an explicit +Inf bucket, like Go."""
    registry = CollectorRegistry()
    h = Histogram("both", "Both.", registry=registry, native=True, buckets=[1.0])
    h.observe(0.5)
    h.observe(3.0, {"trace_id": "x"})
    hist = decode(_protobuf.generate_latest(registry))[0].metric[0].histogram
    assert [(b.upper_bound, b.cumulative_count, labels(b.exemplar)) for b in hist.bucket] == [
        (1.0, 1, {}), (math.inf, 2, {"trace_id": "x"})]
    assert hist.schema == 3 and absolute(hist.positive_span, hist.positive_delta) == {-8: 1, 13: 1}


def test_empty_native_histogram_with_zero_threshold_zero_gets_a_noop_span() -> None:
    """Without observations and threshold 0, a (0, 0) span marks the histogram as native."""
    registry = CollectorRegistry()
    Histogram("empty", "Empty.", registry=registry, native=True, native_zero_threshold=0)
    hist = decode(_protobuf.generate_latest(registry))[0].metric[0].histogram
    assert [(s.offset, s.length) for s in hist.positive_span] == [(0, 0)]
    assert (hist.sample_count, hist.zero_threshold, hist.HasField("schema")) == (0, 0.0, True)


def test_text_scrape_of_the_same_registry_is_unaffected() -> None:
    """The text writer renders native histograms as +Inf/_count/_sum from the same state."""
    registry = CollectorRegistry()
    Histogram("lat", "Lat.", registry=registry, native=True).observe(2.0)
    assert b'lat_bucket{le="+Inf"} 1.0\nlat_count 1.0\nlat_sum 2.0\n' in text_latest(registry)


def test_custom_collector_families() -> None:
    """Families from custom collectors: untyped with timestamp, summary quantiles, gauge histograms, float
    counts, a Sample.native_histogram, and a histogram without _count."""
    untyped = UnknownMetricFamily("u", "U.", labels=["a"])
    untyped.add_metric(["1"], 5.0, timestamp=Timestamp(12, 500_000_000))
    summary = SummaryMetricFamily("s", "S.", labels=[])
    summary.add_metric([], 4, 10.0)
    summary.add_sample("s", {"quantile": "0.5"}, 2.5)
    gh = GaugeHistogramMetricFamily("gh", "GH.", buckets=[("1.0", 2), ("+Inf", 3)], gsum_value=4.0)
    floaty = HistogramMetricFamily("f", "F.", buckets=[("1.0", 0.5), ("+Inf", 1.5)], sum_value=2.0)
    negative = HistogramMetricFamily("n", "N.", buckets=[("-1.0", 1), ("+Inf", 2)], sum_value=0.0)
    native = Metric("nh", "NH.", "histogram")
    native.add_sample("nh", {"k": "v"}, 0.0, native_histogram=NativeHistogram(
        3.0, 6.0, 1, 0.001, 1.0, [BucketSpan(2, 2)], None, [1, 0], None))
    registry = CollectorRegistry()
    registry.register(Static(untyped, summary, gh, floaty, negative, native))  # type: ignore[arg-type]
    fams = {f.name: f for f in decode(_protobuf.generate_latest(registry))}
    m = fams["u"].metric[0]
    assert (fams["u"].type, labels(m), m.untyped.value, m.timestamp_ms) == (3, {"a": "1"}, 5.0, 12500)
    s = fams["s"].metric[0].summary
    assert (s.sample_count, s.sample_sum, [(q.quantile, q.value) for q in s.quantile]) == (4, 10.0, [(0.5, 2.5)])
    g = fams["gh"].metric[0].histogram
    assert (fams["gh"].type, g.sample_count, g.sample_sum, [b.cumulative_count for b in g.bucket]) == (5, 3, 4.0, [2])
    f = fams["f"].metric[0].histogram
    assert (f.sample_count_float, f.HasField("sample_count"), f.bucket[0].cumulative_count_float) == (1.5, False, 0.5)
    n = fams["n"].metric[0].histogram
    assert (n.sample_count, n.HasField("sample_sum"), [b.upper_bound for b in n.bucket]) == (2, False, [-1.0])
    h = fams["nh"].metric[0]
    assert labels(h) == {"k": "v"}
    assert (h.histogram.sample_count, h.histogram.sample_sum, h.histogram.schema, h.histogram.zero_count) == (
        3, 6.0, 1, 1)
    assert absolute(h.histogram.positive_span, h.histogram.positive_delta) == {2: 1, 3: 1}


def test_labelled_histogram_through_a_name_filter() -> None:
    """The native part survives registry views (name[] filtering) because it rides on the _count sample."""
    registry = CollectorRegistry()
    Histogram("lat", "Lat.", registry=registry, native=True).observe(2.0)
    Gauge("other", "Other.", registry=registry).set(1)
    view = registry.restricted_registry(["lat_count", "lat_sum"])
    (family,) = decode(_protobuf.generate_latest(view))
    assert family.name == "lat" and absolute(family.metric[0].histogram.positive_span,
                                             family.metric[0].histogram.positive_delta) == {8: 1}
    assert text_latest(view) == b"# HELP lat Lat.\n# TYPE lat histogram\nlat_count 1.0\nlat_sum 2.0\n"


@pytest.mark.parametrize("accept", [
    PROMETHEUS_ACCEPT,
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.1",
    "text/plain;q=0.5, application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
])
def test_protobuf_is_chosen_when_most_preferred(accept: str) -> None:
    """A delimited MetricFamily entry with the highest q (or first among equals) gets protobuf."""
    encoder, content_type = choose_encoder(accept)
    assert encoder is _protobuf.generate_latest
    assert content_type == _protobuf.CONTENT_TYPE_PROTOBUF == (
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited")


@pytest.mark.parametrize(("accept", "content_type"), [
    ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.2,"
     "text/plain;version=0.0.4;q=0.3", "text/plain; version=0.0.4; charset=utf-8"),
    ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
     "text/plain; version=0.0.4; charset=utf-8"),
    ("application/vnd.google.protobuf;proto=other.Message;encoding=delimited",
     "text/plain; version=0.0.4; charset=utf-8"),
    ("application/openmetrics-text;version=1.0.0,application/vnd.google.protobuf;"
     "proto=io.prometheus.client.MetricFamily;encoding=delimited",
     "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"),
    ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0",
     "text/plain; version=0.0.4; charset=utf-8"),
])
def test_protobuf_is_not_chosen_otherwise(accept: str, content_type: str) -> None:
    """Lower preference, another encoding or message, or q=0: the text negotiation as before."""
    assert choose_encoder(accept)[1] == content_type


def test_serve_answers_protobuf_with_gzip() -> None:
    """The shared HTTP answer carries the protobuf content type and a decodable (gzipped) body."""
    import gzip

    registry = CollectorRegistry()
    Histogram("lat", "Lat.", registry=registry, native=True).observe(0.25)
    reply = serve(registry, "GET", "/metrics", PROMETHEUS_ACCEPT, "gzip", {})
    headers = dict(reply.headers)
    assert reply.status == 200 and headers["Content-Type"] == _protobuf.CONTENT_TYPE_PROTOBUF
    assert headers["Content-Encoding"] == "gzip"
    (family,) = decode(gzip.decompress(reply.body))
    assert family.metric[0].histogram.positive_span[0].offset == -16


def test_timestamp_encoding() -> None:
    """Timestamps: seconds and non-negative nanos, also before 1970."""
    encoded: List[Tuple[float, bytes]] = [(1.5, b"\x0a\x08\x08\x01\x10\x80\xca\xb5\xee\x01"), (0.0, b"\x0a\x00")]
    for when, expected in encoded:
        assert _protobuf._timestamp(1, when) == expected
    negative = _protobuf._timestamp(1, -0.5)
    assert negative == b"\x0a\x11\x08" + b"\xff" * 9 + b"\x01" + b"\x10\x80\xca\xb5\xee\x01"
    earlier = b"\x0a\x11\x08\xfe" + b"\xff" * 8 + b"\x01" + b"\x10\x80\xca\xb5\xee\x01"  # -2 s + 0.5 s
    assert _protobuf._timestamp(1, -1.5) == earlier
    assert _protobuf._timestamp(1, Exemplar({}, 1.0, Timestamp(-1, 5e8)).timestamp) == earlier  # type: ignore[arg-type]
