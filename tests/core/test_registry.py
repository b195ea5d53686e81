"""Tests for CollectorRegistry: registration, name clashes, target_info, restricted views and custom collectors."""

from __future__ import annotations

import re
from typing import Any, Iterable, List

import pytest
from pyrometer._text_format import generate_latest
from pyrometer.metrics import Counter, Enum, Gauge, Histogram, Info, Summary
from pyrometer.metrics_core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
    UntypedMetricFamily,
)
from pyrometer.registry import CollectorRegistry, DuplicateTimeseries
from pyrometer.samples import Exemplar, Sample, Timestamp


def raises_exactly(exc: type, message: str) -> Any:
    """``pytest.raises`` that requires the whole message to equal ``message``."""
    return pytest.raises(exc, match="^" + re.escape(message) + "$")


class Static:
    """A custom collector without ``describe()`` that yields the families it was given."""

    def __init__(self, *families: Metric) -> None:
        self.families = list(families)
        self.collect_calls = 0

    def collect(self) -> Iterable[Metric]:
        self.collect_calls += 1
        return self.families


class Described(Static):
    """A custom collector whose ``describe()`` announces names it may not collect yet."""

    def __init__(self, described: List[Metric], *families: Metric) -> None:
        super().__init__(*families)
        self.described = described

    def describe(self) -> Iterable[Metric]:
        return self.described


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


# -- register / unregister ----------------------------------------------------

def test_register_and_unregister(registry: CollectorRegistry) -> None:
    """A registered collector is scraped; after ``unregister`` it is not and its names are free again."""
    c = Counter("c", "C.", registry=registry)
    c.inc()
    assert registry.get_sample_value("c_total") == 1.0
    registry.unregister(c)
    assert registry.get_sample_value("c_total") is None
    assert list(registry.collect()) == []
    registry.register(c)
    assert registry.get_sample_value("c_total") == 1.0


def test_unregister_of_an_unknown_collector_raises_key_error(registry: CollectorRegistry) -> None:
    """Unregistering a collector that was never registered is a KeyError."""
    with pytest.raises(KeyError):
        registry.unregister(Static())


def test_duplicate_names_are_refused_with_the_clashing_names(registry: CollectorRegistry) -> None:
    """A second metric with a taken series name raises ``DuplicateTimeseries`` naming the clashes."""
    Gauge("g", "G.", registry=registry)
    with raises_exactly(ValueError, "Duplicated timeseries in CollectorRegistry: {'g'}"):
        Gauge("g", "Again.", registry=registry)
    Counter("c", "C.", registry=registry)
    with pytest.raises(DuplicateTimeseries) as info:
        Counter("c_total", "C again.", registry=registry)
    assert info.value.duplicates == {"c", "c_total", "c_created"}
    assert str(info.value).startswith("Duplicated timeseries in CollectorRegistry: {")


@pytest.mark.parametrize("first,second,clash", [
    (lambda r: Counter("x", "X.", registry=r), lambda r: Gauge("x_total", "X.", registry=r), {"x_total"}),
    (lambda r: Counter("x", "X.", registry=r), lambda r: Gauge("x_created", "X.", registry=r), {"x_created"}),
    (lambda r: Histogram("x", "X.", registry=r), lambda r: Gauge("x_bucket", "X.", registry=r), {"x_bucket"}),
    (lambda r: Summary("x", "X.", registry=r), lambda r: Gauge("x_count", "X.", registry=r), {"x_count"}),
    (lambda r: Info("x", "X.", registry=r), lambda r: Gauge("x_info", "X.", registry=r), {"x_info"}),
    (lambda r: Gauge("x_sum", "X.", registry=r), lambda r: Summary("x", "X.", registry=r), {"x_sum"}),
    (lambda r: Enum("x", "X.", states=["a"], registry=r), lambda r: Gauge("x", "X.", registry=r), {"x"}),
])
def test_type_suffixes_take_part_in_clash_detection(registry: CollectorRegistry, first: Any, second: Any,
                                                     clash: Any) -> None:
    """The sample names a type adds (``_total``, ``_bucket``, ``_info``...) clash with other metrics."""
    first(registry)
    with pytest.raises(DuplicateTimeseries) as info:
        second(registry)
    assert info.value.duplicates == clash


def test_a_failed_registration_registers_nothing(registry: CollectorRegistry) -> None:
    """When registration fails none of the collector's names are taken."""
    Gauge("a_sum", "A.", registry=registry)
    with pytest.raises(DuplicateTimeseries):
        Summary("a", "A.", registry=registry)
    Gauge("a_count", "Free.", registry=registry)


def test_auto_describe_uses_collect_for_collectors_without_describe() -> None:
    """With ``auto_describe`` a collector without ``describe`` is checked by calling ``collect``."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(Static(GaugeMetricFamily("g", "G.", value=1)))
    with pytest.raises(DuplicateTimeseries) as info:
        registry.register(Static(GaugeMetricFamily("g", "G.", value=2)))
    assert info.value.duplicates == {"g"}


def test_collectors_without_describe_are_not_checked_by_default(registry: CollectorRegistry) -> None:
    """Without ``auto_describe`` a collector lacking ``describe`` is registered without calling ``collect``."""
    a, b = Static(GaugeMetricFamily("g", "G.", value=1)), Static(GaugeMetricFamily("g", "G.", value=2))
    registry.register(a)
    registry.register(b)
    assert a.collect_calls == b.collect_calls == 0
    assert generate_latest(registry) == b"# HELP g G.\n# TYPE g gauge\ng 1.0\n# HELP g G.\n# TYPE g gauge\ng 2.0\n"


def test_describe_is_preferred_to_collect(registry: CollectorRegistry) -> None:
    """A collector's ``describe`` decides its names, even with ``auto_describe``."""
    auto = CollectorRegistry(auto_describe=True)
    collector = Described([GaugeMetricFamily("declared", "D.")], GaugeMetricFamily("actual", "A.", value=1))
    auto.register(collector)
    assert collector.collect_calls == 0
    with pytest.raises(DuplicateTimeseries):
        auto.register(Described([CounterMetricFamily("declared", "D.")]))
    auto.register(Described([GaugeMetricFamily("actual", "A.")]))


def test_collect_yields_families_in_registration_order(registry: CollectorRegistry) -> None:
    """A scrape yields each collector's families in the order the collectors were registered."""
    Gauge("b", "B.", registry=registry)
    registry.register(Static(GaugeMetricFamily("a", "A.", value=1), GaugeMetricFamily("z", "Z.", value=2)))
    Counter("c", "C.", registry=registry)
    assert [m.name for m in registry.collect()] == ["b", "a", "z", "c"]


# -- target_info ------------------------------------------------------------

def test_target_info_set_get_and_clear() -> None:
    """``target_info`` labels can be given at construction, read back, replaced and cleared."""
    registry = CollectorRegistry(target_info={"service": "api"})
    assert registry.get_target_info() == {"service": "api"}
    assert registry.get_sample_value("target_info", {"service": "api"}) == 1.0
    registry.set_target_info({"service": "web", "zone": "eu"})
    assert registry.get_sample_value("target_info", {"service": "web", "zone": "eu"}) == 1.0
    registry.set_target_info(None)
    assert registry.get_target_info() is None
    assert list(registry.collect()) == []


def test_target_info_is_exported_first_as_an_info_family() -> None:
    """``target_info`` is an info family named ``target`` exported before every collector."""
    registry = CollectorRegistry(target_info={"b": "2", "a": "1"})
    Gauge("g", "G.", registry=registry)
    first = next(iter(registry.collect()))
    assert (first.name, first.documentation, first.type) == ("target", "Target metadata", "info")
    assert generate_latest(registry) == (
        b'# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info{a="1",b="2"} 1.0\n'
        b"# HELP g G.\n# TYPE g gauge\ng 0.0\n")


def test_target_info_clashes_with_a_target_info_metric() -> None:
    """``target_info`` and a metric exporting ``target_info`` cannot coexist, whichever comes first."""
    registry = CollectorRegistry(target_info={"a": "1"})
    with pytest.raises(DuplicateTimeseries):
        Info("target", "T.", registry=registry)
    registry.set_target_info({"a": "2"})  # replacing our own target_info is fine
    registry.set_target_info(None)
    Gauge("target_info", "T.", registry=registry)
    with raises_exactly(ValueError, "CollectorRegistry already contains a target_info metric"):
        registry.set_target_info({"a": "1"})


# -- restricted_registry ----------------------------------------------------

def test_restricted_registry_keeps_only_the_named_samples(registry: CollectorRegistry) -> None:
    """A restricted view yields only the samples with the given names, from their families."""
    Counter("c", "C.", registry=registry).inc()
    h = Histogram("h", "H.", buckets=[1], registry=registry)
    h.observe(0.5)
    Gauge("g", "G.", registry=registry).set(3)
    view = registry.restricted_registry(["h_count", "h_sum", "g"])
    families = list(view.collect())
    assert [(m.name, [s.name for s in m.samples]) for m in families] == [("h", ["h_count", "h_sum"]), ("g", ["g"])]
    assert generate_latest(view) == (b"# HELP h H.\n# TYPE h histogram\nh_count 1.0\nh_sum 0.5\n"
                                     b"# HELP g G.\n# TYPE g gauge\ng 3.0\n")


def test_restricted_registry_with_target_info_and_unknown_names() -> None:
    """``target_info`` is included only when asked for; unknown names yield nothing."""
    registry = CollectorRegistry(target_info={"a": "1"})
    Gauge("g", "G.", registry=registry)
    assert [m.name for m in registry.restricted_registry(["target_info"]).collect()] == ["target"]
    assert [m.name for m in registry.restricted_registry(["g"]).collect()] == ["g"]
    assert list(registry.restricted_registry(["nope"]).collect()) == []


def test_restricted_registry_includes_collectors_without_names_when_supported() -> None:
    """With ``support_collectors_without_names`` a collector without names is filtered, not skipped."""
    registry = CollectorRegistry(support_collectors_without_names=True)
    registry.register(Static(GaugeMetricFamily("anon", "A.", value=1), GaugeMetricFamily("other", "O.", value=2)))
    assert [m.name for m in registry.restricted_registry(["anon"]).collect()] == ["anon"]
    plain = CollectorRegistry()
    plain.register(Static(GaugeMetricFamily("anon", "A.", value=1)))
    assert list(plain.restricted_registry(["anon"]).collect()) == []


# -- get_sample_value -------------------------------------------------------

def test_get_sample_value(registry: CollectorRegistry) -> None:
    """``get_sample_value`` finds a sample by name and exact labels, else returns ``None``."""
    c = Counter("c", "C.", ["a"], registry=registry)
    c.labels("x").inc(3)
    assert registry.get_sample_value("c_total", {"a": "x"}) == 3.0
    assert registry.get_sample_value("c_total", {"a": "y"}) is None
    assert registry.get_sample_value("c_total") is None
    assert registry.get_sample_value("missing") is None


# -- custom collectors with each family type ---------------------------------

def samples(family: Metric) -> List[Sample]:
    return list(family.samples)


def test_counter_metric_family(registry: CollectorRegistry) -> None:
    """CounterMetricFamily drops ``_total``, adds ``_created`` when given, and carries exemplars."""
    ex = Exemplar({"trace": "t"}, 1.0, 12.5)
    single = CounterMetricFamily("jobs_total", "Jobs.", value=3, created=100.0, exemplar=ex)
    assert single.name == "jobs" and single.type == "counter"
    assert samples(single) == [Sample("jobs_total", {}, 3, None, ex), Sample("jobs_created", {}, 100.0, None, None)]
    labelled = CounterMetricFamily("jobs", "Jobs.", labels=["queue"], unit="items")
    labelled.add_metric(["q1"], 5, timestamp=7.0)
    assert labelled.name == "jobs_items"
    assert samples(labelled) == [Sample("jobs_items_total", {"queue": "q1"}, 5, 7.0)]
    registry.register(Static(single, labelled))
    assert registry.get_sample_value("jobs_items_total", {"queue": "q1"}) == 5


def test_gauge_and_unknown_metric_families(registry: CollectorRegistry) -> None:
    """GaugeMetricFamily and UnknownMetricFamily hold one sample per series under the family name."""
    g = GaugeMetricFamily("temp", "T.", labels=["room"])
    g.add_metric(["kitchen"], 21.5)
    u = UnknownMetricFamily("mystery", "M.", value=4, unit="bytes")
    assert UntypedMetricFamily is UnknownMetricFamily
    assert (u.type, u.name, u.unit) == ("unknown", "mystery_bytes", "bytes")
    registry.register(Static(g, u))
    assert registry.get_sample_value("temp", {"room": "kitchen"}) == 21.5
    assert registry.get_sample_value("mystery_bytes") == 4


def test_summary_metric_family(registry: CollectorRegistry) -> None:
    """SummaryMetricFamily holds count and sum, which must be given together."""
    s = SummaryMetricFamily("lat", "L.", count_value=2, sum_value=3.5)
    assert samples(s) == [Sample("lat_count", {}, 2), Sample("lat_sum", {}, 3.5)]
    with raises_exactly(ValueError, "count_value and sum_value must be provided together."):
        SummaryMetricFamily("lat", "L.", count_value=2)
    with raises_exactly(ValueError, "Can only specify at most one of value and labels."):
        SummaryMetricFamily("lat", "L.", count_value=2, sum_value=1, labels=["a"])


def test_histogram_metric_family(registry: CollectorRegistry) -> None:
    """HistogramMetricFamily adds buckets (with optional exemplars), then count and sum when a sum is given."""
    ex = Exemplar({"id": "x"}, 0.3)
    h = HistogramMetricFamily("lat", "L.", labels=["a"])
    h.add_metric(["v"], [("1.0", 2, ex), ("+Inf", 3)], sum_value=4.0)
    assert samples(h) == [Sample("lat_bucket", {"a": "v", "le": "1.0"}, 2, None, ex),
                          Sample("lat_bucket", {"a": "v", "le": "+Inf"}, 3, None, None),
                          Sample("lat_count", {"a": "v"}, 3), Sample("lat_sum", {"a": "v"}, 4.0)]
    no_sum = HistogramMetricFamily("b", "B.", buckets=[("+Inf", 1)])
    assert [s.name for s in no_sum.samples] == ["b_bucket"]
    negative = HistogramMetricFamily("n", "N.", buckets=[("-1.0", 1), ("+Inf", 2)], sum_value=0)
    assert [s.name for s in negative.samples] == ["n_bucket", "n_bucket"]
    with raises_exactly(ValueError, "sum value cannot be provided without buckets."):
        HistogramMetricFamily("x", "X.", sum_value=1)
    with raises_exactly(ValueError, "Can only specify at most one of buckets and labels."):
        HistogramMetricFamily("x", "X.", buckets=[("+Inf", 1)], labels=["a"])


def test_gauge_histogram_metric_family() -> None:
    """GaugeHistogramMetricFamily adds buckets then ``_gcount`` and ``_gsum``."""
    gh = GaugeHistogramMetricFamily("q", "Q.", buckets=[("1.0", 4), ("+Inf", 5)], gsum_value=7)
    assert gh.type == "gaugehistogram"
    assert samples(gh) == [Sample("q_bucket", {"le": "1.0"}, 4), Sample("q_bucket", {"le": "+Inf"}, 5),
                           Sample("q_gcount", {}, 5), Sample("q_gsum", {}, 7)]


def test_info_and_stateset_metric_families(registry: CollectorRegistry) -> None:
    """InfoMetricFamily exports ``_info`` with its pairs; StateSetMetricFamily one sorted sample per state."""
    i = InfoMetricFamily("build", "B.", labels=["svc"])
    i.add_metric(["api"], {"version": "1"}, timestamp=Timestamp(5, 0))
    assert samples(i) == [Sample("build_info", {"svc": "api", "version": "1"}, 1, Timestamp(5, 0))]
    s = StateSetMetricFamily("mode", "M.", value={"on": True, "off": False})
    assert samples(s) == [Sample("mode", {"mode": "off"}, 0), Sample("mode", {"mode": "on"}, 1)]
    registry.register(Static(i, s))
    assert registry.get_sample_value("mode", {"mode": "on"}) == 1


@pytest.mark.parametrize("make", [
    lambda: CounterMetricFamily("x", "X.", value=1, labels=["a"]),
    lambda: GaugeMetricFamily("x", "X.", value=1, labels=["a"]),
    lambda: UnknownMetricFamily("x", "X.", value=1, labels=["a"]),
    lambda: InfoMetricFamily("x", "X.", value={"k": "v"}, labels=["a"]),
    lambda: StateSetMetricFamily("x", "X.", value={"k": True}, labels=["a"]),
])
def test_families_refuse_both_value_and_labels(make: Any) -> None:
    """A family takes either one unlabelled value or label names, not both."""
    with raises_exactly(ValueError, "Can only specify at most one of value and labels."):
        make()


def test_metric_type_and_name_checks() -> None:
    """``Metric`` maps ``untyped`` to ``unknown``, refuses unknown types and empty names, and appends the unit."""
    assert Metric("m", "M.", "untyped").type == "unknown"
    assert Metric("m", "M.", "gauge", unit="bytes").name == "m_bytes"
    with raises_exactly(ValueError, "Invalid metric type: bogus"):
        Metric("m", "M.", "bogus")
    with raises_exactly(ValueError, "metric name cannot be empty"):
        Metric("", "M.", "gauge")


def test_custom_collector_with_every_family_is_scraped(registry: CollectorRegistry) -> None:
    """A collector yielding each family type is scraped in order, each family whole."""
    families = [
        CounterMetricFamily("a", "A.", value=1), GaugeMetricFamily("b", "B.", value=2),
        SummaryMetricFamily("c", "C.", count_value=1, sum_value=2), HistogramMetricFamily("d", "D.", [("+Inf", 1)], 1),
        GaugeHistogramMetricFamily("e", "E.", [("+Inf", 1)], 1), InfoMetricFamily("f", "F.", {"k": "v"}),
        StateSetMetricFamily("g", "G.", {"s": True}), UnknownMetricFamily("h", "H.", value=3),
    ]
    registry.register(Static(*families))
    assert list(registry.collect()) == families
    assert [m.type for m in registry.collect()] == ["counter", "gauge", "summary", "histogram", "gaugehistogram",
                                                     "info", "stateset", "unknown"]
