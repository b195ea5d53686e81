"""Exact bytes of the Prometheus text and OpenMetrics writers for the built-in metric types."""

from __future__ import annotations

import math

import pytest
from exposition_helpers import NOW, Families, frozen_time, lines, om, text  # noqa: F401 - frozen_time is autouse
from pyrometer.metrics import Counter, Enum, Gauge, Histogram, Info, Summary
from pyrometer.metrics_core import (
    GaugeMetricFamily,
)
from pyrometer.registry import CollectorRegistry
from pyrometer.samples import Exemplar

# -- empty ------------------------------------------------------------------

def test_empty_registry(registry: CollectorRegistry) -> None:
    """An empty registry is empty text and a lone ``# EOF`` in OpenMetrics."""
    assert text(registry) == b""
    assert om(registry) == b"# EOF\n"


def test_labelled_metrics_without_children(registry: CollectorRegistry) -> None:
    """A labelled metric with no children writes only its HELP and TYPE lines."""
    Counter("c", "C.", ["a"], registry=registry)
    Summary("s", "S.", ["a"], registry=registry)
    assert text(registry) == lines(
        "# HELP c_total C.",
        "# TYPE c_total counter",
        "# HELP s S.",
        "# TYPE s summary",
    )
    assert om(registry) == lines(
        "# HELP c C.",
        "# TYPE c counter",
        "# HELP s S.",
        "# TYPE s summary",
        "# EOF",
    )


# -- the four fast-path types -------------------------------------------------

def test_counters(registry: CollectorRegistry) -> None:
    """Counters: ``_total`` samples, labels sorted by name, ``_created`` grouped after (text) or per child (OM)."""
    Counter("requests_total", "Requests served.", registry=registry).inc(3)
    errors = Counter("errors", "Errors.", ["method", "code"], registry=registry)
    errors.labels("get", "500").inc()
    errors.labels(code="404", method="post").inc(2.5)
    assert text(registry) == lines(
        "# HELP requests_total Requests served.",
        "# TYPE requests_total counter",
        "requests_total 3.0",
        "# HELP requests_created Requests served.",
        "# TYPE requests_created gauge",
        "requests_created 1.70000000025e+09",
        "# HELP errors_total Errors.",
        "# TYPE errors_total counter",
        'errors_total{code="500",method="get"} 1.0',
        'errors_total{code="404",method="post"} 2.5',
        "# HELP errors_created Errors.",
        "# TYPE errors_created gauge",
        'errors_created{code="500",method="get"} 1.70000000025e+09',
        'errors_created{code="404",method="post"} 1.70000000025e+09',
    )
    assert om(registry) == lines(
        "# HELP requests Requests served.",
        "# TYPE requests counter",
        "requests_total 3.0",
        "requests_created 1.70000000025e+09",
        "# HELP errors Errors.",
        "# TYPE errors counter",
        'errors_total{code="500",method="get"} 1.0',
        'errors_created{code="500",method="get"} 1.70000000025e+09',
        'errors_total{code="404",method="post"} 2.5',
        'errors_created{code="404",method="post"} 1.70000000025e+09',
        "# EOF",
    )


def test_gauges(registry: CollectorRegistry) -> None:
    """Gauges: one sample per series, in child creation order."""
    Gauge("temp", "Temp.", registry=registry).set(21.5)
    queue = Gauge("queue", "Queue.", ["name"], registry=registry)
    queue.labels("a").inc(2)
    queue.labels("b").dec(1)
    body = (
        "# HELP temp Temp.",
        "# TYPE temp gauge",
        "temp 21.5",
        "# HELP queue Queue.",
        "# TYPE queue gauge",
        'queue{name="a"} 2.0',
        'queue{name="b"} -1.0',
    )
    assert text(registry) == lines(*body)
    assert om(registry) == lines(*body, "# EOF")


def test_summaries(registry: CollectorRegistry) -> None:
    """Summaries: ``_count`` then ``_sum`` per series, plus ``_created``."""
    Summary("lat", "Latency.", registry=registry).observe(0.25)
    size = Summary("size", "Size.", ["path"], registry=registry)
    size.labels("/").observe(512)
    size.labels("/").observe(1024)
    assert text(registry) == lines(
        "# HELP lat Latency.",
        "# TYPE lat summary",
        "lat_count 1.0",
        "lat_sum 0.25",
        "# HELP lat_created Latency.",
        "# TYPE lat_created gauge",
        "lat_created 1.70000000025e+09",
        "# HELP size Size.",
        "# TYPE size summary",
        'size_count{path="/"} 2.0',
        'size_sum{path="/"} 1536.0',
        "# HELP size_created Size.",
        "# TYPE size_created gauge",
        'size_created{path="/"} 1.70000000025e+09',
    )
    assert om(registry) == lines(
        "# HELP lat Latency.",
        "# TYPE lat summary",
        "lat_count 1.0",
        "lat_sum 0.25",
        "lat_created 1.70000000025e+09",
        "# HELP size Size.",
        "# TYPE size summary",
        'size_count{path="/"} 2.0',
        'size_sum{path="/"} 1536.0',
        'size_created{path="/"} 1.70000000025e+09',
        "# EOF",
    )


def test_histograms(registry: CollectorRegistry) -> None:
    """Histograms: cumulative buckets with ``le`` sorted among the labels, then count, sum and created."""
    Histogram("lat", "Latency.", buckets=[0.1, 1], registry=registry).observe(0.5)
    req = Histogram("req", "Req.", ["z", "a"], buckets=[1], registry=registry)
    req.labels("y", "x").observe(2)
    assert text(registry) == lines(
        "# HELP lat Latency.",
        "# TYPE lat histogram",
        'lat_bucket{le="0.1"} 0.0',
        'lat_bucket{le="1.0"} 1.0',
        'lat_bucket{le="+Inf"} 1.0',
        "lat_count 1.0",
        "lat_sum 0.5",
        "# HELP lat_created Latency.",
        "# TYPE lat_created gauge",
        "lat_created 1.70000000025e+09",
        "# HELP req Req.",
        "# TYPE req histogram",
        'req_bucket{a="x",le="1.0",z="y"} 0.0',
        'req_bucket{a="x",le="+Inf",z="y"} 1.0',
        'req_count{a="x",z="y"} 1.0',
        'req_sum{a="x",z="y"} 2.0',
        "# HELP req_created Req.",
        "# TYPE req_created gauge",
        'req_created{a="x",z="y"} 1.70000000025e+09',
    )
    assert om(registry) == lines(
        "# HELP lat Latency.",
        "# TYPE lat histogram",
        'lat_bucket{le="0.1"} 0.0',
        'lat_bucket{le="1.0"} 1.0',
        'lat_bucket{le="+Inf"} 1.0',
        "lat_count 1.0",
        "lat_sum 0.5",
        "lat_created 1.70000000025e+09",
        "# HELP req Req.",
        "# TYPE req histogram",
        'req_bucket{a="x",le="1.0",z="y"} 0.0',
        'req_bucket{a="x",le="+Inf",z="y"} 1.0',
        'req_count{a="x",z="y"} 1.0',
        'req_sum{a="x",z="y"} 2.0',
        'req_created{a="x",z="y"} 1.70000000025e+09',
        "# EOF",
    )


def test_histogram_with_negative_buckets_has_no_sum(registry: CollectorRegistry) -> None:
    """A histogram whose first bound is negative writes no ``_sum`` line."""
    Histogram("h", "H.", buckets=[-1, 0], registry=registry).observe(-0.5)
    assert text(registry) == lines(
        "# HELP h H.",
        "# TYPE h histogram",
        'h_bucket{le="-1.0"} 0.0',
        'h_bucket{le="0.0"} 1.0',
        'h_bucket{le="+Inf"} 1.0',
        "h_count 1.0",
        "# HELP h_created H.",
        "# TYPE h_created gauge",
        "h_created 1.70000000025e+09",
    )
    assert om(registry) == lines(
        "# HELP h H.",
        "# TYPE h histogram",
        'h_bucket{le="-1.0"} 0.0',
        'h_bucket{le="0.0"} 1.0',
        'h_bucket{le="+Inf"} 1.0',
        "h_count 1.0",
        "h_created 1.70000000025e+09",
        "# EOF",
    )


def test_histogram_nan_observation(registry: CollectorRegistry) -> None:
    """A NaN observation shows in ``+Inf`` and the count, and makes the sum ``NaN``."""
    Histogram("h", "H.", buckets=[1], registry=registry).observe(math.nan)
    assert text(registry).startswith(lines(
        "# HELP h H.",
        "# TYPE h histogram",
        'h_bucket{le="1.0"} 0.0',
        'h_bucket{le="+Inf"} 1.0',
        "h_count 1.0",
        "h_sum NaN",
    ))


def test_created_lines_can_be_disabled(registry: CollectorRegistry, no_created: None) -> None:
    """With created metrics disabled neither format writes ``_created`` lines."""
    Counter("c", "C.", registry=registry).inc()
    Histogram("h", "H.", buckets=[1], registry=registry).observe(1)
    Summary("s", "S.", registry=registry).observe(1)
    body = (
        "# HELP h H.",
        "# TYPE h histogram",
        'h_bucket{le="1.0"} 1.0',
        'h_bucket{le="+Inf"} 1.0',
        "h_count 1.0",
        "h_sum 1.0",
        "# HELP s S.",
        "# TYPE s summary",
        "s_count 1.0",
        "s_sum 1.0",
    )
    assert text(registry) == lines("# HELP c_total C.", "# TYPE c_total counter", "c_total 1.0", *body)
    assert om(registry) == lines("# HELP c C.", "# TYPE c counter", "c_total 1.0", *body, "# EOF")


# -- Info and Enum --------------------------------------------------------------

def test_info_and_enum(registry: CollectorRegistry) -> None:
    """Info is a gauge ``_info`` family in text and ``info`` in OM; Enum is a gauge or a ``stateset``."""
    Info("build", "Build.", registry=registry).info({"version": "1.2", "commit": "abc"})
    Info("svc", "Svc.", ["env"], registry=registry).labels("prod").info({"v": "1"})
    Enum("state", "State.", states=["a", "b"], registry=registry).state("b")
    Enum("job", "Job.", ["host"], states=["idle", "busy"], registry=registry).labels("h1")
    assert text(registry) == lines(
        "# HELP build_info Build.",
        "# TYPE build_info gauge",
        'build_info{commit="abc",version="1.2"} 1.0',
        "# HELP svc_info Svc.",
        "# TYPE svc_info gauge",
        'svc_info{env="prod",v="1"} 1.0',
        "# HELP state State.",
        "# TYPE state gauge",
        'state{state="a"} 0.0',
        'state{state="b"} 1.0',
        "# HELP job Job.",
        "# TYPE job gauge",
        'job{host="h1",job="idle"} 1.0',
        'job{host="h1",job="busy"} 0.0',
    )
    assert om(registry) == lines(
        "# HELP build Build.",
        "# TYPE build info",
        'build_info{commit="abc",version="1.2"} 1.0',
        "# HELP svc Svc.",
        "# TYPE svc info",
        'svc_info{env="prod",v="1"} 1.0',
        "# HELP state State.",
        "# TYPE state stateset",
        'state{state="a"} 0.0',
        'state{state="b"} 1.0',
        "# HELP job Job.",
        "# TYPE job stateset",
        'job{host="h1",job="idle"} 1.0',
        'job{host="h1",job="busy"} 0.0',
        "# EOF",
    )


# -- escaping and numbers ---------------------------------------------------------

def test_help_and_label_value_escaping(registry: CollectorRegistry) -> None:
    """HELP escapes backslash and newline (OM also ``"``); label values escape backslash, newline and ``"``."""
    Gauge("g", 'Back\\slash\nnew "quoted" ünï', ["path"], registry=registry).labels('a"b\\c\nd é').set(1)
    assert text(registry) == lines(
        r'# HELP g Back\\slash\nnew "quoted" ünï',
        "# TYPE g gauge",
        r'g{path="a\"b\\c\nd é"} 1.0',
    )
    assert om(registry) == lines(
        r'# HELP g Back\\slash\nnew \"quoted\" ünï',
        "# TYPE g gauge",
        r'g{path="a\"b\\c\nd é"} 1.0',
        "# EOF",
    )


def test_special_and_large_values(registry: CollectorRegistry) -> None:
    """Infinities and NaN are ``+Inf``/``-Inf``/``NaN``; large positive numbers use Go's ``1e+06`` style."""
    g = Gauge("v", "V.", ["k"], registry=registry)
    for k, v in [("pinf", math.inf), ("ninf", -math.inf), ("nan", math.nan), ("million", 1e6),
                 ("big", 123456789.0), ("neg", -1e6), ("huge", 1e22), ("tiny", 1e-7), ("int", 7),
                 ("small", 999999.0)]:
        g.labels(k).set(v)
    Histogram("h", "H.", buckets=[1e6, 2.5e7], registry=registry).observe(5e6)
    body = (
        "# HELP v V.",
        "# TYPE v gauge",
        'v{k="pinf"} +Inf',
        'v{k="ninf"} -Inf',
        'v{k="nan"} NaN',
        'v{k="million"} 1e+06',
        'v{k="big"} 1.23456789e+08',
        'v{k="neg"} -1000000.0',
        'v{k="huge"} 1e+22',
        'v{k="tiny"} 1e-07',
        'v{k="int"} 7.0',
        'v{k="small"} 999999.0',
        "# HELP h H.",
        "# TYPE h histogram",
        'h_bucket{le="1e+06"} 0.0',
        'h_bucket{le="2.5e+07"} 1.0',
        'h_bucket{le="+Inf"} 1.0',
        "h_count 1.0",
        "h_sum 5e+06",
    )
    assert text(registry) == lines(*body, "# HELP h_created H.", "# TYPE h_created gauge",
                                   "h_created 1.70000000025e+09")
    assert om(registry) == lines(*body, "h_created 1.70000000025e+09", "# EOF")


def test_units(registry: CollectorRegistry) -> None:
    """The unit is part of the name in both formats and has its own ``# UNIT`` line in OpenMetrics."""
    Counter("sent_total", "Sent.", unit="bytes", registry=registry).inc(1)
    Gauge("temp", "T.", unit="celsius", registry=registry).set(3)
    assert text(registry) == lines(
        "# HELP sent_bytes_total Sent.",
        "# TYPE sent_bytes_total counter",
        "sent_bytes_total 1.0",
        "# HELP sent_bytes_created Sent.",
        "# TYPE sent_bytes_created gauge",
        "sent_bytes_created 1.70000000025e+09",
        "# HELP temp_celsius T.",
        "# TYPE temp_celsius gauge",
        "temp_celsius 3.0",
    )
    assert om(registry) == lines(
        "# HELP sent_bytes Sent.",
        "# TYPE sent_bytes counter",
        "# UNIT sent_bytes bytes",
        "sent_bytes_total 1.0",
        "sent_bytes_created 1.70000000025e+09",
        "# HELP temp_celsius T.",
        "# TYPE temp_celsius gauge",
        "# UNIT temp_celsius celsius",
        "temp_celsius 3.0",
        "# EOF",
    )


def test_exemplars_appear_in_openmetrics_only(registry: CollectorRegistry) -> None:
    """Counter and bucket exemplars are written after the value in OM, with escaped values and sorted labels."""
    Counter("c", "C.", registry=registry).inc(2, exemplar={"trace_id": 'a"b'})
    h = Histogram("h", "H.", ["x"], buckets=[1], registry=registry)
    h.labels("y").observe(0.5, exemplar={"trace": "t1", "span": "s1"})
    assert text(registry) == lines(
        "# HELP c_total C.",
        "# TYPE c_total counter",
        "c_total 2.0",
        "# HELP c_created C.",
        "# TYPE c_created gauge",
        "c_created 1.70000000025e+09",
        "# HELP h H.",
        "# TYPE h histogram",
        'h_bucket{le="1.0",x="y"} 1.0',
        'h_bucket{le="+Inf",x="y"} 1.0',
        'h_count{x="y"} 1.0',
        'h_sum{x="y"} 0.5',
        "# HELP h_created H.",
        "# TYPE h_created gauge",
        'h_created{x="y"} 1.70000000025e+09',
    )
    assert om(registry) == lines(
        "# HELP c C.",
        "# TYPE c counter",
        r'c_total 2.0 # {trace_id="a\"b"} 2.0 1700000000.25',
        "c_created 1.70000000025e+09",
        "# HELP h H.",
        "# TYPE h histogram",
        'h_bucket{le="1.0",x="y"} 1.0 # {span="s1",trace="t1"} 0.5 1700000000.25',
        'h_bucket{le="+Inf",x="y"} 1.0',
        'h_count{x="y"} 1.0',
        'h_sum{x="y"} 0.5',
        'h_created{x="y"} 1.70000000025e+09',
        "# EOF",
    )


def test_exemplar_on_a_gauge_family_is_refused() -> None:
    """An exemplar on a sample that cannot carry one fails the OM scrape; the family is appended to the args."""
    registry = CollectorRegistry()
    g = GaugeMetricFamily("g", "G.")
    g.add_sample("g", {}, 1, exemplar=Exemplar({"a": "b"}, 1))
    registry.register(Families(g))
    with pytest.raises(ValueError) as info:
        om(registry)
    assert info.value.args == ("Metric g has exemplars, but is not a histogram bucket or counter", g)
    assert text(registry) == lines("# HELP g G.", "# TYPE g gauge", "g 1.0")


def test_target_info(registry: CollectorRegistry) -> None:
    """``target_info`` comes first: a gauge in text, an info family named ``target`` in OpenMetrics."""
    registry.set_target_info({"service": "api", "env": "prod"})
    assert text(registry) == lines(
        "# HELP target_info Target metadata",
        "# TYPE target_info gauge",
        'target_info{env="prod",service="api"} 1.0',
    )
    assert om(registry) == lines(
        "# HELP target Target metadata",
        "# TYPE target info",
        'target_info{env="prod",service="api"} 1.0',
        "# EOF",
    )
