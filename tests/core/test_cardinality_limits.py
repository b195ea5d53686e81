"""Cardinality limits: per-metric ``max_label_sets``, the registry default, the overflow series and its counter."""

from __future__ import annotations

import logging
import threading
from typing import Any, List

import pytest
from metric_helpers import hammer
from pyrometer.exposition import generate_latest
from pyrometer.metrics import Counter, Enum, Gauge, Histogram, Info, Summary
from pyrometer.multiprocess import MultiProcessCollector
from pyrometer.openmetrics.exposition import generate_latest as om_generate_latest
from pyrometer.registry import CollectorRegistry

LOGGER = "pyrometer.cardinality"


def _keys(metric: Any) -> List[tuple]:
    return list(metric._metrics)


@pytest.fixture
def frozen(clock: Any, no_created: None) -> None:
    """Frozen time (exemplar/created timestamps) and no ``_created`` series, for exact bytes."""


def test_off_by_default(registry: CollectorRegistry) -> None:
    """Without a limit every label set gets its own child and no overflow counter is exported."""
    c = Counter("c", "C.", ["k"], registry=registry)
    for i in range(50):
        c.labels(str(i)).inc()
    assert len(_keys(c)) == 50
    assert registry.default_max_label_sets is None
    assert b"pyrometer_cardinality_overflow" not in generate_latest(registry)


def test_overflow_series_and_counter_exact_bytes(registry: CollectorRegistry, frozen: None) -> None:
    """Past the limit new label sets share one all-``_OTHER`` child; the overflow counter counts each lookup."""
    c = Counter("requests", "Requests.", ["method", "path"], registry=registry, max_label_sets=2)
    c.labels("GET", "/a").inc()
    c.labels("GET", "/b").inc(2)
    c.labels("GET", "/c").inc(3)
    c.labels("POST", "/d").inc(4)
    c.labels("GET", "/a").inc()  # an existing label set keeps its own child
    assert generate_latest(registry) == (
        b"# HELP requests_total Requests.\n"
        b"# TYPE requests_total counter\n"
        b'requests_total{method="GET",path="/a"} 2.0\n'
        b'requests_total{method="GET",path="/b"} 2.0\n'
        b'requests_total{method="_OTHER",path="_OTHER"} 7.0\n'
        b"# HELP pyrometer_cardinality_overflow_total Lookups of new label sets sent to the overflow series "
        b"because the metric reached its label-set limit.\n"
        b"# TYPE pyrometer_cardinality_overflow_total counter\n"
        b'pyrometer_cardinality_overflow_total{metric="requests"} 2.0\n'
    )


def test_overflow_openmetrics_bytes(registry: CollectorRegistry, frozen: None) -> None:
    """The OpenMetrics exposition shows the same overflow series and counter."""
    g = Gauge("temp", "Temperature.", ["room"], registry=registry).limit_label_sets(1)
    g.labels("kitchen").set(20)
    g.labels("hall").set(18)
    g.labels("attic").set(9)
    assert om_generate_latest(registry) == (
        b"# HELP temp Temperature.\n"
        b"# TYPE temp gauge\n"
        b'temp{room="kitchen"} 20.0\n'
        b'temp{room="_OTHER"} 9.0\n'
        b"# HELP pyrometer_cardinality_overflow Lookups of new label sets sent to the overflow series "
        b"because the metric reached its label-set limit.\n"
        b"# TYPE pyrometer_cardinality_overflow counter\n"
        b'pyrometer_cardinality_overflow_total{metric="temp"} 2.0\n'
        b"# EOF\n"
    )


def test_one_warning_per_metric(registry: CollectorRegistry, caplog: pytest.LogCaptureFixture) -> None:
    """Each metric logs one warning naming itself and its limit, however often it overflows."""
    a = Counter("a", "A.", ["k"], registry=registry, max_label_sets=1)
    b = Summary("b", "B.", ["k"], registry=registry)
    registry.set_default_max_label_sets(2)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for i in range(10):
            a.labels(str(i)).inc()
            b.labels(str(i)).observe(1)
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (LOGGER, logging.WARNING, "a reached its limit of 1 label sets (max_label_sets); new label sets are "
                                  "counted in the series whose labels are all '_OTHER'"),
        (LOGGER, logging.WARNING, "b reached its limit of 2 label sets (the registry's default_max_label_sets); "
                                  "new label sets are counted in the series whose labels are all '_OTHER'"),
    ]


def test_registry_default_and_per_metric_override() -> None:
    """The registry default caps metrics without their own limit; a metric's own limit wins, also when set later."""
    registry = CollectorRegistry(default_max_label_sets=2)
    inherit = Counter("inherit", "I.", ["k"], registry=registry)
    higher = Counter("higher", "H.", ["k"], registry=registry, max_label_sets=3)
    lower = Counter("lower", "L.", ["k"], registry=registry).limit_label_sets(1)
    for i in range(5):
        for m in (inherit, higher, lower):
            m.labels(str(i)).inc()
    assert _keys(inherit) == [("0",), ("1",), ("_OTHER",)]
    assert _keys(higher) == [("0",), ("1",), ("2",), ("_OTHER",)]
    assert _keys(lower) == [("0",), ("_OTHER",)]
    assert registry.get_sample_value("pyrometer_cardinality_overflow_total", {"metric": "inherit"}) == 3
    assert registry.get_sample_value("pyrometer_cardinality_overflow_total", {"metric": "higher"}) == 2
    assert registry.get_sample_value("pyrometer_cardinality_overflow_total", {"metric": "lower"}) == 4


def test_default_set_after_metrics_exist_and_lifted(registry: CollectorRegistry) -> None:
    """A default set after the metrics were defined applies to their next new label sets; None lifts it."""
    c = Counter("c", "C.", ["k"], registry=registry)
    c.labels("a").inc()
    c.labels("b").inc()
    registry.set_default_max_label_sets(1)
    c.labels("c").inc()
    assert _keys(c) == [("a",), ("b",), ("_OTHER",)]  # existing sets beyond a lowered limit are kept
    registry.set_default_max_label_sets(None)
    c.labels("d").inc()
    assert _keys(c) == [("a",), ("b",), ("_OTHER",), ("d",)]


@pytest.mark.parametrize("make", [
    lambda r: Counter("m", "M.", ["k"], registry=r, max_label_sets=1),
    lambda r: Summary("m", "M.", ["k"], registry=r).limit_label_sets(1),
    lambda r: Info("m", "M.", ["k"], registry=r, max_label_sets=1),
    lambda r: Gauge("m", "M.", ["k"], registry=r).limit_label_sets(1),
    lambda r: Histogram("m", "M.", ["k"], registry=r).limit_label_sets(1),
    lambda r: Enum("m", "M.", ["k"], registry=r, states=["a", "b"]).limit_label_sets(1),
    lambda r: Summary("m", "M.", ["k"], registry=r, max_label_sets=1),
    lambda r: Gauge("m", "M.", ["k"], registry=r, max_label_sets=1),
    lambda r: Histogram("m", "M.", ["k"], registry=r, max_label_sets=1),
    lambda r: Enum("m", "M.", ["k"], registry=r, states=["a", "b"], max_label_sets=1),
], ids=["counter", "summary", "info", "gauge", "histogram", "enum",
        "summary-keyword", "gauge-keyword", "histogram-keyword", "enum-keyword"])
def test_every_metric_type(registry: CollectorRegistry, make: Any) -> None:
    """Every metric type folds the second label set into its overflow child."""
    metric = make(registry)
    first = metric.labels("x")
    assert metric.labels("y") is metric.labels("z") is metric.labels("_OTHER")
    assert metric.labels("x") is first
    assert _keys(metric) == [("x",), ("_OTHER",)]
    assert isinstance(metric.labels("y"), type(metric))


def test_histogram_children_exact_bytes(registry: CollectorRegistry, frozen: None) -> None:
    """An overflowing histogram exports its overflow child with every bucket, labels all ``_OTHER``."""
    h = Histogram("lat", "Latency.", ["route", "code"], registry=registry, buckets=(1,)).limit_label_sets(1)
    h.labels("/a", "200").observe(0.5)
    h.labels("/b", "200").observe(2)
    h.labels("/c", "500").observe(0.25)
    assert generate_latest(registry) == (
        b"# HELP lat Latency.\n"
        b"# TYPE lat histogram\n"
        b'lat_bucket{code="200",le="1.0",route="/a"} 1.0\n'
        b'lat_bucket{code="200",le="+Inf",route="/a"} 1.0\n'
        b'lat_count{code="200",route="/a"} 1.0\n'
        b'lat_sum{code="200",route="/a"} 0.5\n'
        b'lat_bucket{code="_OTHER",le="1.0",route="_OTHER"} 1.0\n'
        b'lat_bucket{code="_OTHER",le="+Inf",route="_OTHER"} 2.0\n'
        b'lat_count{code="_OTHER",route="_OTHER"} 2.0\n'
        b'lat_sum{code="_OTHER",route="_OTHER"} 2.25\n'
        b"# HELP pyrometer_cardinality_overflow_total Lookups of new label sets sent to the overflow series "
        b"because the metric reached its label-set limit.\n"
        b"# TYPE pyrometer_cardinality_overflow_total counter\n"
        b'pyrometer_cardinality_overflow_total{metric="lat"} 2.0\n'
    )


def test_remove_and_clear_free_room(registry: CollectorRegistry) -> None:
    """A removed label set frees its room; clear() frees all of it; the overflow child stays until removed."""
    c = Counter("c", "C.", ["k"], registry=registry, max_label_sets=2)
    c.labels("a").inc()
    c.labels("b").inc()
    c.labels("c").inc()
    assert _keys(c) == [("a",), ("b",), ("_OTHER",)]
    c.remove("a")
    c.labels("c").inc()
    assert _keys(c) == [("b",), ("_OTHER",), ("c",)]
    assert c.labels("c")._value.get() == 1  # a fresh child: the earlier increment went to the overflow
    c.clear()
    c.labels("x").inc()
    c.labels("y").inc()
    c.labels("z").inc()
    assert _keys(c) == [("x",), ("y",), ("_OTHER",)]
    c.remove_by_labels({"k": "x"})
    c.labels("w").inc()
    assert _keys(c) == [("y",), ("_OTHER",), ("w",)]


def test_hits_on_existing_children_skip_the_slow_path(registry: CollectorRegistry,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Once created, a child (overflow included) is found by the fast path: the limit costs lookups nothing."""
    c = Counter("c", "C.", ["a", "b"], registry=registry, max_label_sets=1)
    real = c.labels("1", "2")
    over = c.labels("3", "4")

    def fail(*_args: Any) -> None:
        raise AssertionError("slow path taken")

    monkeypatch.setattr(c, "_labels_slow", fail)
    assert c.labels("1", "2") is real
    assert c.labels(a="1", b="2") is real
    assert c.labels("_OTHER", "_OTHER") is over
    with pytest.raises(AssertionError, match="slow path taken"):
        c.labels("5", "6")  # a new label set past the limit: the slow path, every time


def test_concurrent_creation_keeps_exactly_the_limit(registry: CollectorRegistry) -> None:
    """Threads racing to create more label sets than the limit leave exactly ``limit`` children plus the overflow."""
    limit, threads, per_thread = 10, 8, 50
    c = Counter("race", "R.", ["k"], registry=registry, max_label_sets=limit)
    start = threading.Barrier(threads)

    def work(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            c.labels(f"{t}-{i}").inc()

    hammer(work, threads)
    keys = _keys(c)
    assert len(keys) == limit + 1
    assert keys.count(("_OTHER",)) == 1
    assert sum(child._value.get() for child in c._metrics.values()) == threads * per_thread
    assert c.labels("_OTHER")._value.get() == threads * per_thread - limit
    assert registry.get_sample_value("pyrometer_cardinality_overflow_total",
                                     {"metric": "race"}) == threads * per_thread - limit


def test_each_registry_counts_its_own_metrics(frozen: None) -> None:
    """The overflow counter lives in the registry a metric was created with; others stay untouched."""
    one, two = CollectorRegistry(), CollectorRegistry()
    a = Counter("a", "A.", ["k"], registry=one, max_label_sets=1)
    b = Counter("b", "B.", ["k"], registry=two, max_label_sets=1)
    a.labels("x").inc()
    a.labels("y").inc()
    b.labels("x").inc()
    assert one.get_sample_value("pyrometer_cardinality_overflow_total", {"metric": "a"}) == 1
    assert two.get_sample_value("pyrometer_cardinality_overflow_total", {"metric": "a"}) is None
    assert b"pyrometer_cardinality_overflow" not in generate_latest(two)
    b.labels("y").inc()
    assert two.get_sample_value("pyrometer_cardinality_overflow_total", {"metric": "b"}) == 1
    assert generate_latest(one.restricted_registry(["pyrometer_cardinality_overflow_total"])) == (
        b"# HELP pyrometer_cardinality_overflow_total Lookups of new label sets sent to the overflow series "
        b"because the metric reached its label-set limit.\n"
        b"# TYPE pyrometer_cardinality_overflow_total counter\n"
        b'pyrometer_cardinality_overflow_total{metric="a"} 1.0\n'
    )
    assert b"pyrometer_cardinality_overflow" not in generate_latest(one.restricted_registry(["a_total"]))


def test_unregistered_metric_still_capped(caplog: pytest.LogCaptureFixture) -> None:
    """A metric created with ``registry=None`` honours its own limit and warns; it has no counter to feed."""
    c = Counter("free", "F.", ["k"], registry=None, max_label_sets=1)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        c.labels("a").inc()
        c.labels("b").inc()
    assert _keys(c) == [("a",), ("_OTHER",)]
    assert len(caplog.records) == 1


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"max_label_sets": 0}, ValueError, "max_label_sets must be at least 1, got 0"),
    ({"max_label_sets": -3}, ValueError, "max_label_sets must be at least 1, got -3"),
    ({"max_label_sets": "10"}, TypeError, "max_label_sets must be an int or None, not str"),
    ({"max_label_sets": True}, TypeError, "max_label_sets must be an int or None, not bool"),
    ({"max_label_sets": 1.5}, TypeError, "max_label_sets must be an int or None, not float"),
])
def test_bad_limits_are_refused(registry: CollectorRegistry, kwargs: dict, error: type, message: str) -> None:
    """A limit that is not a positive int (or None) fails at the call that gave it."""
    with pytest.raises(error) as exc:
        Counter("c", "C.", ["k"], registry=registry, **kwargs)
    assert str(exc.value) == message
    with pytest.raises(error) as exc:
        Gauge("g", "G.", ["k"], registry=registry).limit_label_sets(kwargs["max_label_sets"])
    assert str(exc.value) == message


def test_bad_registry_default_and_child_setter() -> None:
    """The registry default is checked the same way; a child cannot take a limit of its own."""
    with pytest.raises(ValueError) as exc:
        CollectorRegistry(default_max_label_sets=0)
    assert str(exc.value) == "default_max_label_sets must be at least 1, got 0"
    with pytest.raises(TypeError) as type_exc:
        CollectorRegistry().set_default_max_label_sets(2.0)  # type: ignore[arg-type]
    assert str(type_exc.value) == "default_max_label_sets must be an int or None, not float"
    c = Counter("c", "C.", ["k"], registry=None)
    with pytest.raises(ValueError) as child_exc:
        c.labels("a").limit_label_sets(3)
    assert str(child_exc.value) == "counter:c is a labelled child; set the limit on its parent metric"



def test_multiprocess_worker_is_capped(mpdir: str, no_created: None) -> None:
    """In multiprocess mode a worker caps its label sets the same way, and the scrape sees the overflow counter."""
    worker = CollectorRegistry()
    c = Counter("jobs", "Jobs.", ["kind"], registry=worker, max_label_sets=2)
    for kind in ("a", "b", "c", "d", "a"):
        c.labels(kind).inc()
    scrape = CollectorRegistry()
    MultiProcessCollector(scrape, path=mpdir)
    samples = sorted((s.name, tuple(sorted(s.labels.items())), s.value)
                     for m in scrape.collect() for s in m.samples)
    assert samples == [
        ("jobs_total", (("kind", "_OTHER"),), 2.0),
        ("jobs_total", (("kind", "a"),), 2.0),
        ("jobs_total", (("kind", "b"),), 1.0),
        ("pyrometer_cardinality_overflow_total", (("metric", "jobs"),), 2.0),
    ]
