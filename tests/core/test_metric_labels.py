"""Metric naming, registration, label children and their removal."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from metric_helpers import raises_exactly, value
from pyrometer import values
from pyrometer.metrics import Counter, Enum, Gauge, Histogram, Info, Summary
from pyrometer.registry import REGISTRY, CollectorRegistry

# -- naming -----------------------------------------------------------------

def test_counter_total_suffix_is_stripped_from_the_family_name(registry: CollectorRegistry) -> None:
    """A counter named ``x_total`` is the family ``x`` whose sample is ``x_total``."""
    c = Counter("requests_total", "Requests.", registry=registry)
    c.inc()
    [family] = c.collect()
    assert family.name == "requests"
    assert value(registry, "requests_total") == 1.0


def test_non_counters_keep_a_total_suffix(registry: CollectorRegistry) -> None:
    """Only counters strip ``_total``; a gauge keeps it in its name."""
    g = Gauge("things_total", "Things.", registry=registry)
    assert g._name == "things_total"


def test_namespace_subsystem_and_unit_are_joined_with_underscores(registry: CollectorRegistry) -> None:
    """Namespace, subsystem, name and unit join with ``_`` and the family carries the unit."""
    g = Gauge("temperature", "Temp.", namespace="app", subsystem="cpu", unit="celsius", registry=registry)
    [family] = g.describe()
    assert (family.name, family.unit, family.type) == ("app_cpu_temperature_celsius", "celsius", "gauge")


def test_empty_namespace_and_subsystem_are_skipped(registry: CollectorRegistry) -> None:
    """An empty namespace or subsystem adds no stray underscore."""
    assert Gauge("g", "G.", subsystem="sub", registry=registry)._name == "sub_g"
    assert Gauge("h", "H.", namespace="ns", registry=registry)._name == "ns_h"


def test_unit_is_not_repeated_when_the_name_already_ends_with_it(registry: CollectorRegistry) -> None:
    """``latency_seconds`` with unit ``seconds`` stays ``latency_seconds``."""
    assert Histogram("latency_seconds", "L.", unit="seconds", registry=registry)._name == "latency_seconds"


def test_counter_total_is_stripped_before_the_unit_is_added(registry: CollectorRegistry) -> None:
    """``sent_total`` with unit ``bytes`` is the family ``sent_bytes`` exporting ``sent_bytes_total``."""
    c = Counter("sent_total", "Sent.", unit="bytes", registry=registry)
    assert c._name == "sent_bytes"
    assert value(registry, "sent_bytes_total") == 0.0


def test_empty_metric_name_is_refused(registry: CollectorRegistry) -> None:
    """An empty name is refused even with a namespace."""
    with raises_exactly(ValueError, "Metric name should not be empty"):
        Counter("", "Empty.", registry=registry)
    with raises_exactly(ValueError, "Metric name should not be empty"):
        Gauge("", "Empty.", namespace="ns", registry=registry)


def test_utf8_metric_names_are_accepted_by_default(registry: CollectorRegistry) -> None:
    """Without legacy validation any UTF-8 name is a valid metric name."""
    assert Gauge("my.gauge", "G.", registry=registry)._name == "my.gauge"


def test_invalid_metric_name_under_legacy_validation(registry: CollectorRegistry, legacy_validation: None) -> None:
    """Legacy validation refuses names outside ``[a-zA-Z_:][a-zA-Z0-9_:]*``."""
    with raises_exactly(ValueError, "invalid metric name my.gauge"):
        Gauge("my.gauge", "G.", registry=registry)
    with raises_exactly(ValueError, "invalid metric name 0abc"):
        Gauge("0abc", "G.", registry=registry)


@pytest.mark.parametrize("cls,kwargs", [(Info, {}), (Enum, {"states": ["a"]})])
def test_info_and_stateset_cannot_have_a_unit(registry: CollectorRegistry, cls: type, kwargs: Any) -> None:
    """Info and Enum refuse a unit, naming the full metric name."""
    with raises_exactly(ValueError, "Metric name is of a type that cannot have a unit: build_seconds"):
        cls("build", "B.", unit="seconds", registry=registry, **kwargs)


def test_documentation_must_be_a_string(registry: CollectorRegistry) -> None:
    """A non-string documentation is a TypeError at construction, not at scrape time."""
    with raises_exactly(TypeError, "documentation must be str, not NoneType"):
        Counter("c", None, registry=registry)  # type: ignore[arg-type]


# -- registration -----------------------------------------------------------

def test_registry_none_leaves_the_metric_unregistered() -> None:
    """With ``registry=None`` the metric works but no registry exports it."""
    c = Counter("unregistered_total", "U.", registry=None)
    c.inc(2)
    assert REGISTRY.get_sample_value("unregistered_total") is None
    [family] = c.collect()
    assert family.samples[0].value == 2.0


def test_metrics_register_with_the_default_registry_by_default() -> None:
    """Without a registry argument a metric is registered in ``REGISTRY``."""
    c = Counter("pyrometer_test_default_registry_total", "D.")
    try:
        c.inc()
        assert REGISTRY.get_sample_value("pyrometer_test_default_registry_total") == 1.0
    finally:
        REGISTRY.unregister(c)


def test_children_are_not_registered_separately(registry: CollectorRegistry) -> None:
    """Creating children registers nothing new: the parent exports them."""
    c = Counter("c", "C.", ["a"], registry=registry)
    c.labels("x").inc()
    assert list(registry._collector_to_names) == [c]


# -- labels -----------------------------------------------------------------

def test_labels_by_position_and_by_keyword_return_the_same_child(registry: CollectorRegistry) -> None:
    """``labels('get', '200')`` and ``labels(method='get', status='200')`` are one child."""
    c = Counter("c", "C.", ["method", "status"], registry=registry)
    child = c.labels("get", "200")
    assert c.labels(method="get", status="200") is child
    assert c.labels(status="200", method="get") is child
    child.inc()
    assert value(registry, "c_total", method="get", status="200") == 1.0


def test_label_values_are_converted_with_str(registry: CollectorRegistry) -> None:
    """Non-string label values become ``str(value)``, so ``1`` and ``'1'`` are one child."""
    c = Counter("c", "C.", ["code", "flag"], registry=registry)
    assert c.labels(200, True) is c.labels("200", "True")
    assert c.labels(code=200, flag=None) is c.labels("200", "None")
    assert c.labels(1.5, 0)._labelvalues == ("1.5", "0")


@pytest.mark.xfail(strict=True, reason="labels() fast path: a str subclass equal to an existing key skips str()")
def test_str_subclass_label_values_always_go_through_str(registry: CollectorRegistry) -> None:
    """A ``(str, Enum)`` member is labelled by ``str(member)`` even when a child for its value already exists."""
    import enum

    class Method(str, enum.Enum):
        GET = "GET"

    c = Counter("c", "C.", ["method"], registry=registry)
    c.labels("GET").inc()
    c.labels(Method.GET).inc()
    assert sorted(c._metrics) == [("GET",), (str(Method.GET),)]


def test_children_are_instances_of_the_metric_type_without_instance_dicts(registry: CollectorRegistry) -> None:
    """A child is a slotted instance: ``isinstance`` holds, it has no ``__dict__`` and refuses stray attributes."""
    g = Gauge("g", "G.", ["a"], registry=registry)
    child = g.labels("x")
    child.set(1)
    child.set_function(lambda: 2)
    assert isinstance(child, Gauge)
    assert not hasattr(child, "__dict__")
    with pytest.raises(AttributeError):
        child.anything = 1  # type: ignore[attr-defined]
    assert str(child) == "gauge:g"
    assert repr(child) == "pyrometer.metrics.Gauge(g)"


@pytest.mark.parametrize("make", [
    lambda r: Counter("c", "C.", ["a"], registry=r),
    lambda r: Gauge("g", "G.", ["a"], registry=r),
    lambda r: Gauge("g", "G.", ["a"], registry=r, multiprocess_mode="mostrecent"),
    lambda r: Summary("s", "S.", ["a"], registry=r),
    lambda r: Summary("s", "S.", ["a"], registry=r, objectives={0.5: 0.05}),
    lambda r: Histogram("h", "H.", ["a"], registry=r),
    lambda r: Histogram("h", "H.", ["a"], registry=r, native=True),
    lambda r: Info("i", "I.", ["a"], registry=r),
    lambda r: Enum("e", "E.", ["a"], registry=r, states=["x", "y"]),
], ids=["counter", "gauge", "gauge-mostrecent", "summary", "summary-quantiles", "histogram", "histogram-native",
        "info", "enum"])
def test_every_type_makes_dict_free_children_that_are_its_instances(
        registry: CollectorRegistry, make: Callable[[CollectorRegistry], Any]) -> None:
    """Children of every type are instances of it (and of MetricWrapperBase) with no instance dict; parents keep one."""
    from pyrometer.metrics import MetricWrapperBase

    parent = make(registry)
    child = parent.labels("x")
    assert isinstance(child, type(parent)) and isinstance(child, MetricWrapperBase)
    assert not hasattr(child, "__dict__")
    assert hasattr(parent, "__dict__")  # parents stay open to attributes, as prometheus_client's are
    assert not isinstance(child, Counter if type(parent) is not Counter else Gauge)
    assert child is parent.labels("x")


def test_counter_and_gauge_children_keep_their_value_inline_but_serve_the_cell_interface(
        registry: CollectorRegistry) -> None:
    """``child._value`` (used by prometheus_client users' tests) reads and writes the child's own slot."""
    c = Counter("c", "C.", ["a"], registry=registry)
    child = c.labels("x")
    child.inc(2)
    child._value.inc(3)
    assert child._value.get() == 5.0 and value(registry, "c_total", a="x") == 5.0
    child.inc(1, exemplar={"trace_id": "abc"})
    assert child._value.get_exemplar().labels == {"trace_id": "abc"}
    child.reset()
    assert child._value.get() == 0.0
    g = Gauge("g", "G.", ["a"], registry=registry)
    gchild = g.labels("x")
    gchild.set(7)
    gchild.dec(2)
    gchild._value.set(gchild._value.get() + 1)
    assert value(registry, "g", a="x") == 6.0
    assert gchild._value.get_exemplar() is None
    # A metric without labels keeps its value inline too (its inline methods bound in the instance);
    # the class's own methods still work on it through the view.
    u = Counter("u", "U.", registry=registry)
    assert type(u._value) is (values.InlineCell if values._GIL_ATOMIC else values.MutexValue)
    u.inc(2)
    Counter.inc(u, 3)
    assert value(registry, "u_total") == 5.0
    # mostrecent gauges keep the cell object, which timestamps every set().
    assert type(Gauge("m", "M.", ["a"], registry=registry, multiprocess_mode="mostrecent").labels("x")._value) \
        is values._LocalValue


def test_children_of_a_user_subclass_use_its_methods(registry: CollectorRegistry) -> None:
    """A subclass's overrides apply to its children too (they subclass it, keeping a cell and an instance dict)."""

    class DoubleCounter(Counter):
        def inc(self, amount: float = 1, exemplar: Any = None) -> None:
            super().inc(amount * 2, exemplar)

    c = DoubleCounter("d", "D.", ["a"], registry=registry)
    c.labels("x").inc(3)
    assert isinstance(c.labels("x"), DoubleCounter)
    assert value(registry, "d_total", a="x") == 6.0
    u = DoubleCounter("du", "D.", registry=registry)
    u.inc(4)
    assert value(registry, "du_total") == 8.0 and "inc" not in vars(u)


def test_histogram_children_keep_counts_inline_and_serve_the_cell_interface(registry: CollectorRegistry) -> None:
    """A classic histogram child's counts live in its slots; ``_value`` gives cumulative snapshots and exemplars."""
    from pyrometer.openmetrics.exposition import generate_latest as om_latest

    h = Histogram("h", "H.", ["a"], registry=registry, buckets=(1, 2))
    child = h.labels("x")
    for v in (0.5, 1.5, 1.5, 7.0, float("nan")):
        child.observe(v)
    child.observe(1.2, exemplar={"trace_id": "t1"})
    # (Python 3.9 has no atomic += and keeps the locked cell; the interface is the same.)
    assert type(child._value) is (values.InlineHistogramCounts if values._GIL_ATOMIC else values._LockedHistogramCounts)
    counts, total = child._value.snapshot()
    assert counts == [1.0, 4.0, 6.0] and total != total  # NaN went to +Inf and made the sum NaN
    assert [e and e.labels for e in child._value.exemplars()] == [None, {"trace_id": "t1"}, None]
    text = om_latest(registry).decode()
    assert 'h_bucket{a="x",le="2.0"} 4.0 # {trace_id="t1"} 1.2' in text
    assert 'h_count{a="x"} 6.0' in text


def test_wrong_label_count_is_refused(registry: CollectorRegistry) -> None:
    """Too few or too many positional label values raise prometheus_client's message."""
    c = Counter("c", "C.", ["a", "b"], registry=registry)
    with raises_exactly(ValueError, "Incorrect label count"):
        c.labels("x")
    with raises_exactly(ValueError, "Incorrect label count"):
        c.labels("x", "y", "z")


@pytest.mark.parametrize("kwargs", [{"a": "x"}, {"a": "x", "c": "y"}, {"a": "x", "b": "y", "c": "z"}])
def test_wrong_label_names_are_refused(registry: CollectorRegistry, kwargs: Any) -> None:
    """Missing, unknown or extra keyword label names raise ``Incorrect label names``."""
    c = Counter("c", "C.", ["a", "b"], registry=registry)
    with raises_exactly(ValueError, "Incorrect label names"):
        c.labels(**kwargs)


def test_labels_refuses_both_args_and_kwargs(registry: CollectorRegistry) -> None:
    """Positional and keyword label values together are refused."""
    c = Counter("c", "C.", ["a", "b"], registry=registry)
    with raises_exactly(ValueError, "Can't pass both *args and **kwargs"):
        c.labels("x", b="y")


def test_labels_on_an_unlabelled_metric_is_refused(registry: CollectorRegistry) -> None:
    """``labels()`` on a metric without label names names the metric."""
    c = Counter("c", "C.", registry=registry)
    with raises_exactly(ValueError, "No label names were set when constructing counter:c"):
        c.labels("x")
    with raises_exactly(ValueError, "No label names were set when constructing counter:c"):
        c.labels(a="x")


def test_chained_labels_are_refused(registry: CollectorRegistry) -> None:
    """Calling ``labels()`` on a child explains that it already has labels."""
    c = Counter("c", "C.", ["a"], registry=registry)
    with raises_exactly(ValueError, "counter:c already has labels set ({'a': 'x'}); can not chain calls to .labels()"):
        c.labels("x").labels("y")


@pytest.mark.parametrize("make,call,typ", [
    (lambda r: Counter("m", "M.", ["a"], registry=r), lambda m: m.inc(), "counter"),
    (lambda r: Counter("m", "M.", ["a"], registry=r), lambda m: m.reset(), "counter"),
    (lambda r: Counter("m", "M.", ["a"], registry=r), lambda m: m.count_exceptions(), "counter"),
    (lambda r: Gauge("m", "M.", ["a"], registry=r), lambda m: m.inc(), "gauge"),
    (lambda r: Gauge("m", "M.", ["a"], registry=r), lambda m: m.dec(), "gauge"),
    (lambda r: Gauge("m", "M.", ["a"], registry=r), lambda m: m.set(1), "gauge"),
    (lambda r: Gauge("m", "M.", ["a"], registry=r), lambda m: m.set_to_current_time(), "gauge"),
    (lambda r: Gauge("m", "M.", ["a"], registry=r), lambda m: m.track_inprogress(), "gauge"),
    (lambda r: Gauge("m", "M.", ["a"], registry=r), lambda m: m.set_function(lambda: 1), "gauge"),
    (lambda r: Summary("m", "M.", ["a"], registry=r), lambda m: m.observe(1), "summary"),
    (lambda r: Histogram("m", "M.", ["a"], registry=r), lambda m: m.observe(1), "histogram"),
    (lambda r: Info("m", "M.", ["a"], registry=r), lambda m: m.info({"k": "v"}), "info"),
    (lambda r: Enum("m", "M.", ["a"], registry=r, states=["s"]), lambda m: m.state("s"), "stateset"),
])
def test_using_a_parent_without_label_values_is_refused(registry: CollectorRegistry, make: Callable[..., Any],
                                                        call: Callable[[Any], Any], typ: str) -> None:
    """Every mutating method of a labelled parent raises ``<type> metric is missing label values``."""
    with raises_exactly(ValueError, f"{typ} metric is missing label values"):
        call(make(registry))


def test_timer_of_a_parent_fails_when_it_reports(registry: CollectorRegistry) -> None:
    """A timer from a labelled parent without ``Timer.labels`` fails when the block ends."""
    h = Histogram("h", "H.", ["a"], registry=registry)
    with raises_exactly(ValueError, "histogram metric is missing label values"), h.time():
        pass


def test_labelnames_as_a_bare_string_are_refused(registry: CollectorRegistry) -> None:
    """``labelnames='abc'`` is a TypeError rather than three one-letter labels."""
    with raises_exactly(TypeError, "labelnames must be a sequence of str, not the str 'abc'"):
        Counter("c", "C.", "abc", registry=registry)  # type: ignore[arg-type]


def test_duplicate_label_names_are_refused(registry: CollectorRegistry) -> None:
    """The same label name twice is refused."""
    with raises_exactly(ValueError, "Duplicate label names in ('a', 'b', 'a')"):
        Counter("c", "C.", ["a", "b", "a"], registry=registry)


@pytest.mark.parametrize("cls,name", [(Counter, "__reserved"), (Gauge, "__x"), (Histogram, "le"),
                                      (Summary, "quantile")])
def test_reserved_label_names_are_refused(registry: CollectorRegistry, cls: type, name: str) -> None:
    """``__``-prefixed names, ``le`` on histograms and ``quantile`` on summaries are reserved."""
    with raises_exactly(ValueError, "Reserved label metric name: " + name):
        cls("m", "M.", [name], registry=registry)


def test_le_and_quantile_are_ordinary_labels_elsewhere(registry: CollectorRegistry) -> None:
    """``le`` and ``quantile`` are only reserved by the type that writes them."""
    Gauge("g", "G.", ["le", "quantile"], registry=registry).labels("1", "2").set(3)
    assert value(registry, "g", le="1", quantile="2") == 3.0


def test_invalid_label_names(registry: CollectorRegistry) -> None:
    """Empty and non-string label names are refused; UTF-8 names are allowed by default."""
    with raises_exactly(ValueError, "Invalid label metric name: "):
        Counter("c", "C.", [""], registry=registry)
    with raises_exactly(TypeError, "label names must be str, not int: 1"):
        Counter("c", "C.", [1], registry=registry)  # type: ignore[list-item]
    assert Counter("c", "C.", ["label.with.dots"], registry=registry)._labelnames == ("label.with.dots",)


def test_invalid_label_names_under_legacy_validation(registry: CollectorRegistry, legacy_validation: None) -> None:
    """Legacy validation refuses label names outside ``[a-zA-Z_][a-zA-Z0-9_]*``."""
    with raises_exactly(ValueError, "Invalid label metric name: a.b"):
        Counter("c", "C.", ["a.b"], registry=registry)
    with raises_exactly(ValueError, "Invalid label metric name: a:b"):
        Counter("c", "C.", ["a:b"], registry=registry)


# -- remove, remove_by_labels, clear ------------------------------------------

def test_remove_drops_one_child(registry: CollectorRegistry) -> None:
    """``remove`` drops the child with exactly these values; absent values are ignored."""
    c = Counter("c", "C.", ["a", "b"], registry=registry)
    c.labels("x", "1").inc()
    c.labels("y", "2").inc()
    c.remove("x", 1)  # values go through str() like labels()
    c.remove("nope", "nope")
    assert value(registry, "c_total", a="x", b="1") is None
    assert value(registry, "c_total", a="y", b="2") == 1.0


def test_a_removed_child_starts_again_from_zero(registry: CollectorRegistry) -> None:
    """After ``remove`` the same label values create a fresh child."""
    c = Counter("c", "C.", ["a"], registry=registry)
    c.labels("x").inc(5)
    c.remove("x")
    c.labels("x").inc()
    assert value(registry, "c_total", a="x") == 1.0


def test_remove_errors(registry: CollectorRegistry) -> None:
    """``remove`` with the wrong count, or on an unlabelled metric, raises prometheus_client's messages."""
    c = Counter("c", "C.", ["a", "b"], registry=registry)
    with raises_exactly(ValueError, "Incorrect label count (expected 2, got ('x',))"):
        c.remove("x")
    with raises_exactly(ValueError, "No label names were set when constructing counter:d"):
        Counter("d", "D.", registry=registry).remove("x")


def test_remove_by_labels_drops_every_partial_match(registry: CollectorRegistry) -> None:
    """``remove_by_labels`` drops each child whose labels include all the given pairs."""
    g = Gauge("g", "G.", ["a", "b"], registry=registry)
    for a, b in [("x", "1"), ("x", "2"), ("y", "1")]:
        g.labels(a, b).set(1)
    g.remove_by_labels({"a": "x"})
    assert [s.labels for s in g.collect()[0].samples] == [{"a": "y", "b": "1"}]
    g.remove_by_labels({"a": "y", "b": 1})  # values go through str()
    assert g.collect()[0].samples == []


def test_remove_by_labels_errors_and_no_ops(registry: CollectorRegistry) -> None:
    """Unknown names, a non-dict and an unlabelled metric are errors; an empty dict removes nothing."""
    g = Gauge("g", "G.", ["a"], registry=registry)
    g.labels("x").set(1)
    with raises_exactly(ValueError, "Unknown label names: ['b']; expected ('a',)"):
        g.remove_by_labels({"b": "x"})
    with raises_exactly(TypeError, "labels must be a dict of {label_name: label_value}"):
        g.remove_by_labels([("a", "x")])  # type: ignore[arg-type]
    g.remove_by_labels({})
    assert value(registry, "g", a="x") == 1.0
    with raises_exactly(ValueError, "No label names were set when constructing gauge:h"):
        Gauge("h", "H.", registry=registry).remove_by_labels({"a": "x"})


def test_clear_drops_every_child(registry: CollectorRegistry) -> None:
    """``clear`` empties a labelled metric and is a no-op on an unlabelled one."""
    c = Counter("c", "C.", ["a"], registry=registry)
    c.labels("x").inc()
    c.labels("y").inc()
    c.clear()
    assert c.collect()[0].samples == []
    c.labels("x").inc()
    assert value(registry, "c_total", a="x") == 1.0
    u = Counter("u", "U.", registry=registry)
    u.inc()
    u.clear()
    assert value(registry, "u_total") == 1.0


def test_remove_and_clear_work_silently_in_multiprocess_mode(registry: CollectorRegistry,
                                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """With ``PROMETHEUS_MULTIPROC_DIR`` set, removal and clearing are supported: no warning, children gone."""

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    try:
        c = Counter("c", "C.", ["a"], registry=registry)
        for how in (lambda: c.remove("x"), lambda: c.remove_by_labels({"a": "x"}), c.clear):
            c.labels("x").inc()
            how()
            assert c.collect()[0].samples == []
    finally:
        values.close_all_multiprocess_files()


def test_summary_children_keep_count_and_sum_inline_and_serve_the_cell_interface(registry: CollectorRegistry) -> None:
    """``child._count``/``child._sum`` read and write the child's own slots; the exposition shows the same numbers."""
    s = Summary("s", "S.", ["a"], registry=registry)
    child = s.labels("x")
    child.observe(2.5)
    child.observe(0.5)
    child._count.inc(1)
    child._sum.inc(1.0)
    assert (child._count.get(), child._sum.get()) == (3.0, 4.0)
    assert (value(registry, "s_count", a="x"), value(registry, "s_sum", a="x")) == (3.0, 4.0)
    u = Summary("u", "U.", registry=registry)
    u.observe(7)
    assert (value(registry, "u_count"), value(registry, "u_sum")) == (1.0, 7.0)
    inline = values._GIL_ATOMIC
    assert type(child._count) is (values.InlineSummaryCount if inline else values.MutexValue)
    assert type(u._sum) is (values.InlineSummarySum if inline else values.MutexValue)


def test_new_labelled_metrics_do_not_keep_emptying_every_abc_cache(registry: CollectorRegistry) -> None:
    """Children are virtual subclasses through one registered base per type, not one registration per metric.

    Every ``ABC.register`` empties the negative isinstance caches of all ABCs in the process, so a
    registration per labelled metric would tax ``isinstance(x, Mapping)`` and the like across the app.
    """
    import abc

    Counter("warmup", "W.", ["a"], registry=registry).labels("x")  # this type's base may be new here
    token = abc.get_cache_token()
    children = [Counter(f"c{i}", "C.", ["a"], registry=registry).labels("x") for i in range(20)]
    assert abc.get_cache_token() == token
    assert all(isinstance(c, Counter) for c in children)
