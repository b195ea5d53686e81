"""Tests for the six metric types: constructors, methods, errors, labels, context managers and decorators."""

from __future__ import annotations

import asyncio
import inspect
import math
import re
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import pyrometer.metrics
import pytest
from pyrometer import validation, values
from pyrometer._text_format import generate_latest
from pyrometer.metrics import Counter, Enum, Gauge, Histogram, Info, Summary
from pyrometer.openmetrics.exposition import generate_latest as om_generate_latest
from pyrometer.registry import REGISTRY, CollectorRegistry


def raises_exactly(exc: type, message: str) -> Any:
    """``pytest.raises`` that requires the whole message to equal ``message``."""
    return pytest.raises(exc, match="^" + re.escape(message) + "$")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Freeze the time that pyrometer.metrics reads; set ``clock.now`` to move it."""
    fake = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(pyrometer.metrics, "time", SimpleNamespace(time=lambda: fake.now))
    return fake


@pytest.fixture
def legacy_validation() -> Iterator[None]:
    validation.enable_legacy_validation()
    try:
        yield
    finally:
        validation.disable_legacy_validation()


@pytest.fixture
def no_created() -> Iterator[None]:
    pyrometer.metrics.disable_created_metrics()
    try:
        yield
    finally:
        pyrometer.metrics.enable_created_metrics()


def value(registry: CollectorRegistry, name: str, **labels: str) -> Any:
    return registry.get_sample_value(name, labels)


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
    """A child is a slotted subclass instance: ``isinstance`` holds and its state lives in slots."""
    g = Gauge("g", "G.", ["a"], registry=registry)
    child = g.labels("x")
    child.set(1)
    child.set_function(lambda: 2)
    assert isinstance(child, Gauge)
    assert vars(child) == {}
    assert str(child) == "gauge:g"
    assert repr(child) == "pyrometer.metrics.Gauge(g)"


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
    from pyrometer import values

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    try:
        c = Counter("c", "C.", ["a"], registry=registry)
        for how in (lambda: c.remove("x"), lambda: c.remove_by_labels({"a": "x"}), c.clear):
            c.labels("x").inc()
            how()
            assert c.collect()[0].samples == []
    finally:
        values.close_all_multiprocess_files()


# -- Counter ----------------------------------------------------------------

def test_counter_inc(registry: CollectorRegistry) -> None:
    """``inc()`` adds 1, ``inc(n)`` adds n, and zero is allowed."""
    c = Counter("c", "C.", registry=registry)
    c.inc()
    c.inc(2.5)
    c.inc(0)
    assert value(registry, "c_total") == 3.5


def test_counter_refuses_negative_increments(registry: CollectorRegistry) -> None:
    """A negative increment raises and leaves the counter unchanged."""
    c = Counter("c", "C.", registry=registry)
    with raises_exactly(ValueError, "Counters can only be incremented by non-negative amounts."):
        c.inc(-1)
    assert value(registry, "c_total") == 0.0


def test_counter_created_and_reset(registry: CollectorRegistry, clock: SimpleNamespace) -> None:
    """``_created`` is the creation time; ``reset`` zeroes the value and moves ``_created`` to now."""
    c = Counter("c", "C.", registry=registry)
    c.inc(7)
    assert value(registry, "c_created") == 1000.0
    clock.now = 2000.0
    c.reset()
    assert value(registry, "c_total") == 0.0
    assert value(registry, "c_created") == 2000.0


def test_labelled_children_have_their_own_created_time(registry: CollectorRegistry, clock: SimpleNamespace) -> None:
    """Each child records when it was created, not when its parent was."""
    c = Counter("c", "C.", ["a"], registry=registry)
    clock.now = 1500.0
    c.labels("x")
    assert value(registry, "c_created", a="x") == 1500.0


def test_count_exceptions_as_a_context_manager(registry: CollectorRegistry) -> None:
    """The block's matching exception is counted and re-raised; others and success are not counted."""
    c = Counter("c", "C.", registry=registry)
    with pytest.raises(ValueError), c.count_exceptions():
        raise ValueError("boom")
    with c.count_exceptions():
        pass
    with pytest.raises(KeyError), c.count_exceptions(ValueError):
        raise KeyError("other")
    with pytest.raises(TypeError), c.count_exceptions((KeyError, TypeError)):
        raise TypeError("in tuple")
    assert value(registry, "c_total") == 2.0


def test_count_exceptions_as_a_decorator(registry: CollectorRegistry) -> None:
    """A decorated function counts its raised exceptions and keeps its signature and name."""
    c = Counter("c", "C.", registry=registry)

    @c.count_exceptions(ZeroDivisionError)
    def divide(a: int, b: int = 1, *, strict: bool = False) -> float:
        """Divide."""
        return a / b

    assert divide(4, b=2) == 2.0
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)
    assert value(registry, "c_total") == 1.0
    assert str(inspect.signature(divide)) == "(a: 'int', b: 'int' = 1, *, strict: 'bool' = False) -> 'float'"
    assert (divide.__name__, divide.__doc__) == ("divide", "Divide.")


def test_count_exceptions_decorates_coroutine_functions(registry: CollectorRegistry) -> None:
    """An async function stays a coroutine function and its exceptions are counted when awaited."""
    c = Counter("c", "C.", registry=registry)

    @c.count_exceptions()
    async def fail(x: int) -> int:
        await asyncio.sleep(0)
        raise RuntimeError(x)

    assert inspect.iscoroutinefunction(fail)
    assert str(inspect.signature(fail)) == "(x: 'int') -> 'int'"
    with pytest.raises(RuntimeError):
        asyncio.run(fail(1))
    assert value(registry, "c_total") == 1.0


def test_counter_exemplar_is_shown_in_openmetrics_only(registry: CollectorRegistry, clock: SimpleNamespace) -> None:
    """An exemplar links the latest increment to a trace in OpenMetrics and is absent from the text format."""
    c = Counter("c", "C.", registry=registry)
    c.inc(2, exemplar={"trace_id": "abc"})
    c.inc(1)  # an increment without exemplar keeps the last one
    assert b'c_total 3.0 # {trace_id="abc"} 2.0 1000.0\n' in om_generate_latest(registry)
    assert b"#" not in generate_latest(registry).replace(b"# HELP", b"").replace(b"# TYPE", b"")


def test_exemplar_validation(registry: CollectorRegistry) -> None:
    """Exemplar label names follow label-name rules and the labels are limited to 128 characters."""
    c = Counter("c", "C.", registry=registry)
    with raises_exactly(ValueError, "Reserved label metric name: __x"):
        c.inc(exemplar={"__x": "y"})
    with raises_exactly(ValueError, "Exemplar labels have 129 UTF-8 characters, exceeding the limit of 128"):
        c.inc(exemplar={"a" * 64: "b" * 65})
    c.inc(exemplar={"a" * 64: "b" * 64})
    assert c._value.get_exemplar().labels == {"a" * 64: "b" * 64}


# -- Gauge ------------------------------------------------------------------

def test_gauge_inc_dec_set(registry: CollectorRegistry) -> None:
    """Gauges go up, down and to any value; ``set`` stores a float."""
    g = Gauge("g", "G.", registry=registry)
    g.inc()
    g.inc(3)
    g.dec()
    g.dec(0.5)
    assert value(registry, "g") == 2.5
    g.set(-7)
    assert value(registry, "g") == -7.0
    assert isinstance(value(registry, "g"), float)
    g.set("4.5")  # type: ignore[arg-type]
    assert value(registry, "g") == 4.5


def test_gauge_set_to_current_time(registry: CollectorRegistry, clock: SimpleNamespace) -> None:
    """``set_to_current_time`` sets the gauge to the current Unix time."""
    g = Gauge("g", "G.", registry=registry)
    clock.now = 1234.5
    g.set_to_current_time()
    assert value(registry, "g") == 1234.5


def test_gauge_set_function(registry: CollectorRegistry) -> None:
    """With ``set_function`` the scrape reads ``f()`` and the other methods have no visible effect."""
    g = Gauge("g", "G.", ["a"], registry=registry)
    items = [1, 2, 3]
    child = g.labels("x")
    child.set_function(lambda: len(items))
    child.set(100)
    assert value(registry, "g", a="x") == 3.0
    items.append(4)
    assert value(registry, "g", a="x") == 4.0
    assert b'g{a="x"} 4.0\n' in generate_latest(registry)
    assert b'g{a="x"} 4.0\n' in om_generate_latest(registry)


def test_gauge_track_inprogress_as_a_context_manager(registry: CollectorRegistry) -> None:
    """The gauge is raised inside the block and lowered after it, even when it raises."""
    g = Gauge("g", "G.", registry=registry)
    with g.track_inprogress():
        assert value(registry, "g") == 1.0
        with g.track_inprogress():
            assert value(registry, "g") == 2.0
    with pytest.raises(KeyError), g.track_inprogress():
        raise KeyError
    assert value(registry, "g") == 0.0


def test_gauge_track_inprogress_as_a_decorator(registry: CollectorRegistry) -> None:
    """A decorated sync or async function raises the gauge while it runs; signatures are kept."""
    g = Gauge("g", "G.", registry=registry)
    seen = []

    @g.track_inprogress()
    def work(n: int) -> int:
        seen.append(value(registry, "g"))
        return n

    @g.track_inprogress()
    async def awork(n: int) -> int:
        await asyncio.sleep(0)
        seen.append(value(registry, "g"))
        return n

    assert work(1) == 1
    assert asyncio.run(awork(2)) == 2
    assert seen == [1.0, 1.0]
    assert value(registry, "g") == 0.0
    assert str(inspect.signature(work)) == str(inspect.signature(awork)) == "(n: 'int') -> 'int'"
    assert inspect.iscoroutinefunction(awork)


def test_gauge_time_sets_the_duration(registry: CollectorRegistry) -> None:
    """``Gauge.time`` sets the gauge to the block's non-negative duration, also available as ``Timer.duration``."""
    g = Gauge("g", "G.", registry=registry)
    g.set(-1)
    with g.time() as timer:
        pass
    assert timer.duration is not None and timer.duration >= 0
    assert value(registry, "g") == timer.duration


def test_gauge_multiprocess_mode(registry: CollectorRegistry) -> None:
    """An unknown multiprocess mode is refused; mostrecent modes allow ``set`` but not ``inc``/``dec``."""
    with raises_exactly(ValueError, "Invalid multiprocess mode: bogus"):
        Gauge("g", "G.", multiprocess_mode="bogus", registry=registry)  # type: ignore[arg-type]
    for mode in ("mostrecent", "livemostrecent"):
        g = Gauge("g_" + mode, "G.", multiprocess_mode=mode, registry=registry)  # type: ignore[arg-type]
        with raises_exactly(RuntimeError, "inc must not be used with the mostrecent mode"):
            g.inc()
        with raises_exactly(RuntimeError, "dec must not be used with the mostrecent mode"):
            g.dec()
        g.set(5)
        assert value(registry, "g_" + mode) == 5.0
    for mode in ("all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum"):
        Gauge("ok_" + mode, "G.", multiprocess_mode=mode, registry=registry).inc()  # type: ignore[arg-type]


def test_mostrecent_children_refuse_inc(registry: CollectorRegistry) -> None:
    """Children of a mostrecent gauge inherit its mode."""
    g = Gauge("g", "G.", ["a"], multiprocess_mode="mostrecent", registry=registry)
    with raises_exactly(RuntimeError, "inc must not be used with the mostrecent mode"):
        g.labels("x").inc()


# -- Summary ----------------------------------------------------------------

def test_summary_observe(registry: CollectorRegistry, clock: SimpleNamespace) -> None:
    """A summary exports the count and sum of its observations and its creation time."""
    s = Summary("s", "S.", registry=registry)
    s.observe(1.5)
    s.observe(-0.5)
    assert value(registry, "s_count") == 2.0
    assert value(registry, "s_sum") == 1.0
    assert value(registry, "s_created") == 1000.0


def test_summary_time_as_context_manager_and_decorator(registry: CollectorRegistry) -> None:
    """``Summary.time`` observes one non-negative duration per block or call, sync or async."""
    s = Summary("s", "S.", registry=registry)
    with s.time():
        pass

    @s.time()
    def f(x: int) -> int:
        return x

    @s.time()
    async def g(x: int) -> int:
        return x

    assert f(3) == 3
    assert asyncio.run(g(4)) == 4
    assert value(registry, "s_count") == 3.0
    assert value(registry, "s_sum") >= 0
    assert str(inspect.signature(f)) == str(inspect.signature(g)) == "(x: 'int') -> 'int'"


@pytest.mark.parametrize("cls,sample", [(Gauge, "t"), (Summary, "t_count"), (Histogram, "t_count")])
def test_time_decorator_on_every_timed_type(registry: CollectorRegistry, cls: type, sample: str) -> None:
    """``time()`` decorates sync and async functions of every timed type, keeping signatures and reporting per call."""
    metric = cls("t", "T.", registry=registry)

    @metric.time()
    def f(a: int, *args: int, key: str = "k", **kw: int) -> str:
        return key * a

    @metric.time()
    async def g(a: int, *args: int, key: str = "k", **kw: int) -> str:
        return key * a

    assert f(2) == "kk"
    assert asyncio.run(g(1, key="z")) == "z"
    expected = "(a: 'int', *args: 'int', key: 'str' = 'k', **kw: 'int') -> 'str'"
    assert str(inspect.signature(f)) == str(inspect.signature(g)) == expected
    if cls is Gauge:
        assert 0 <= value(registry, "t") < 60  # the last call's duration in seconds
    else:
        assert value(registry, sample) == 2.0


def test_timer_labels_picks_the_child_inside_the_block(registry: CollectorRegistry) -> None:
    """``Timer.labels`` chooses the child once the label values are known."""
    s = Summary("s", "S.", ["outcome"], registry=registry)
    with s.time() as timer:
        timer.labels("ok")
    with s.time() as timer:
        timer.labels(outcome="error")
    assert value(registry, "s_count", outcome="ok") == 1.0
    assert value(registry, "s_count", outcome="error") == 1.0


def test_timer_decorator_runs_concurrently_with_a_timer_per_call(registry: CollectorRegistry) -> None:
    """Overlapping calls of a timed coroutine function each observe their own duration."""
    h = Histogram("h", "H.", buckets=[10], registry=registry)

    @h.time()
    async def step() -> None:
        await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(step() for _ in range(5)))

    asyncio.run(main())
    assert value(registry, "h_count") == 5.0


# -- Histogram --------------------------------------------------------------

def test_histogram_default_buckets(registry: CollectorRegistry) -> None:
    """The default buckets are prometheus_client's, ending at ``+Inf``."""
    h = Histogram("h", "H.", registry=registry)
    les = [s.labels["le"] for s in h.collect()[0].samples if s.name == "h_bucket"]
    assert les == ["0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1.0", "2.5", "5.0",
                   "7.5", "10.0", "+Inf"]
    assert Histogram.DEFAULT_BUCKETS[-1] == math.inf


def test_histogram_buckets_are_cumulative_and_upper_inclusive(registry: CollectorRegistry) -> None:
    """An observation equal to a bound counts in that bucket; counts accumulate; ``+Inf`` is appended."""
    h = Histogram("h", "H.", buckets=[1, 2.5], registry=registry)
    for v in (0.5, 1, 2, 2.5, 3, -10):
        h.observe(v)
    assert [value(registry, "h_bucket", le=le) for le in ("1.0", "2.5", "+Inf")] == [3.0, 5.0, 6.0]
    assert value(registry, "h_count") == 6.0
    assert value(registry, "h_sum") == -1.0


def test_histogram_accepts_string_bounds(registry: CollectorRegistry) -> None:
    """Bounds may be given as strings, including an explicit ``+Inf``."""
    h = Histogram("h", "H.", buckets=["0.5", "+Inf"], registry=registry)
    h.observe(1)
    assert value(registry, "h_bucket", le="0.5") == 0.0
    assert value(registry, "h_bucket", le="+Inf") == 1.0


def test_histogram_nan_counts_into_the_inf_bucket(registry: CollectorRegistry) -> None:
    """A NaN observation counts in ``+Inf`` only (as Go's client does) and makes the sum NaN."""
    h = Histogram("h", "H.", buckets=[1, 2], registry=registry)
    h.observe(math.nan, exemplar={"id": "n"})
    assert [value(registry, "h_bucket", le=le) for le in ("1.0", "2.0", "+Inf")] == [0.0, 0.0, 1.0]
    assert value(registry, "h_count") == 1.0
    assert math.isnan(value(registry, "h_sum"))
    assert [s.exemplar is not None for s in h.collect()[0].samples if s.name == "h_bucket"] == [False, False, True]


def test_histogram_infinities(registry: CollectorRegistry) -> None:
    """``-Inf`` counts in the first bucket and ``+Inf`` in the last."""
    h = Histogram("h", "H.", buckets=[1], registry=registry)
    h.observe(-math.inf)
    h.observe(math.inf)
    assert [value(registry, "h_bucket", le=le) for le in ("1.0", "+Inf")] == [1.0, 2.0]


def test_histogram_with_a_negative_bucket_has_no_sum(registry: CollectorRegistry) -> None:
    """When the first bound is negative the sum is omitted (it could decrease)."""
    h = Histogram("h", "H.", buckets=[-1, 1], registry=registry)
    h.observe(0)
    names = [s.name for s in h.collect()[0].samples]
    assert "h_sum" not in names
    assert "h_count" in names


@pytest.mark.parametrize("buckets,message", [
    ([2, 1], "Buckets not in sorted order"),
    ([], "Must have at least two buckets"),
    ([math.inf], "Must have at least two buckets"),
    (["+Inf"], "Must have at least two buckets"),
    ([1, 1], "Duplicate bucket bounds in [1.0, 1.0, inf]"),
])
def test_histogram_bucket_errors(registry: CollectorRegistry, buckets: Any, message: str) -> None:
    """Unsorted, too few and duplicate bucket bounds are refused."""
    with raises_exactly(ValueError, message):
        Histogram("h", "H.", buckets=buckets, registry=registry)


def test_histogram_time(registry: CollectorRegistry) -> None:
    """``Histogram.time`` observes one duration per block into the right bucket."""
    h = Histogram("h", "H.", buckets=[1000], registry=registry)
    with h.time() as timer:
        pass
    assert value(registry, "h_bucket", le="1000.0") == 1.0
    assert value(registry, "h_sum") == timer.duration


def test_histogram_exemplars_are_kept_per_bucket(registry: CollectorRegistry, clock: SimpleNamespace) -> None:
    """Each bucket keeps its latest exemplar, shown in OpenMetrics only."""
    h = Histogram("h", "H.", buckets=[1, 2], registry=registry)
    h.observe(0.5, exemplar={"trace_id": "a"})
    h.observe(1.5, exemplar={"trace_id": "b"})
    h.observe(1.7, exemplar={"trace_id": "c"})
    h.observe(1.8)
    out = om_generate_latest(registry).decode()
    assert 'h_bucket{le="1.0"} 1.0 # {trace_id="a"} 0.5 1000.0\n' in out
    assert 'h_bucket{le="2.0"} 4.0 # {trace_id="c"} 1.7 1000.0\n' in out
    assert 'h_bucket{le="+Inf"} 4.0\n' in out
    assert "trace_id" not in generate_latest(registry).decode()


def test_histogram_labelled_children_share_buckets(registry: CollectorRegistry) -> None:
    """Children of a labelled histogram use the parent's buckets."""
    h = Histogram("h", "H.", ["a"], buckets=[5], registry=registry)
    h.labels("x").observe(3)
    assert value(registry, "h_bucket", a="x", le="5.0") == 1.0


# -- Info -------------------------------------------------------------------

def test_info_sets_and_replaces_the_pairs(registry: CollectorRegistry) -> None:
    """``info`` exports the pairs as labels of ``<name>_info 1``, replacing earlier pairs."""
    i = Info("build", "Build.", registry=registry)
    assert value(registry, "build_info") == 1.0
    i.info({"version": "1.0", "commit": "abc"})
    assert value(registry, "build_info", version="1.0", commit="abc") == 1.0
    i.info({"version": "2.0"})
    assert value(registry, "build_info", version="2.0") == 1.0
    assert value(registry, "build_info", version="1.0", commit="abc") is None


def test_labelled_info(registry: CollectorRegistry) -> None:
    """A labelled info merges the child's labels with its pairs."""
    i = Info("build", "Build.", ["service"], registry=registry)
    i.labels("api").info({"version": "1"})
    assert value(registry, "build_info", service="api", version="1") == 1.0


def test_info_errors(registry: CollectorRegistry) -> None:
    """Pairs that reuse a label name, or hold ``None``, are refused."""
    i = Info("build", "Build.", ["service"], registry=registry)
    with raises_exactly(ValueError, "Overlapping labels for Info metric, metric: ('service',) child: {'service': 'x'}"):
        i.labels("api").info({"service": "x"})
    with raises_exactly(ValueError, "Label value cannot be None"):
        i.labels("api").info({"version": None})  # type: ignore[dict-item]


# -- Enum -------------------------------------------------------------------

def test_enum_starts_in_the_first_state(registry: CollectorRegistry) -> None:
    """The first state holds until another is set; the state label is named after the metric."""
    e = Enum("task_state", "State.", states=["starting", "running", "stopped"], registry=registry)
    assert value(registry, "task_state", task_state="starting") == 1.0
    e.state("running")
    assert [value(registry, "task_state", task_state=s) for s in ("starting", "running", "stopped")] == [0, 1, 0]


def test_labelled_enum(registry: CollectorRegistry) -> None:
    """Each child of a labelled enum has its own state."""
    e = Enum("e", "E.", ["job"], states=["a", "b"], registry=registry)
    e.labels("one").state("b")
    e.labels("two")
    assert value(registry, "e", job="one", e="b") == 1
    assert value(registry, "e", job="two", e="a") == 1


def test_enum_errors(registry: CollectorRegistry) -> None:
    """An enum needs states, may not use its own name as a label and only accepts its states."""
    with raises_exactly(ValueError, "No states provided for Enum metric: e"):
        Enum("e", "E.", registry=registry)
    with raises_exactly(ValueError, "No states provided for Enum metric: e"):
        Enum("e", "E.", states=[], registry=registry)
    with raises_exactly(ValueError, "Overlapping labels for Enum metric: e"):
        Enum("e", "E.", ["e"], states=["a"], registry=registry)
    e = Enum("e", "E.", states=["a", "b"], registry=registry)
    with raises_exactly(ValueError, "'c' is not a state of e: ['a', 'b']"):
        e.state("c")
    assert value(registry, "e", e="a") == 1


# -- created series and the value seam --------------------------------------

def test_disable_and_enable_created_metrics(registry: CollectorRegistry, no_created: None) -> None:
    """With created metrics disabled no ``_created`` sample is exported; enabling brings them back."""
    Counter("c", "C.", registry=registry)
    Summary("s", "S.", registry=registry)
    Histogram("h", "H.", registry=registry)
    assert b"_created" not in generate_latest(registry)
    assert b"_created" not in om_generate_latest(registry)
    pyrometer.metrics.enable_created_metrics()
    assert value(registry, "c_created") is not None
    assert b"h_created" in om_generate_latest(registry)
    pyrometer.metrics.disable_created_metrics()
    assert value(registry, "s_created") is None


def test_value_class_seam_applies_to_metrics_created_afterwards(registry: CollectorRegistry,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Assigning ``values.ValueClass`` makes later metrics use that value cell class."""
    created = []

    class Recording(values.MutexValue):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append((args, kwargs))

    monkeypatch.setattr(values, "ValueClass", Recording)
    g = Gauge("g", "G.", ["a"], multiprocess_mode="max", registry=registry)
    g.labels("x").set(3)
    assert value(registry, "g", a="x") == 3.0
    assert created == [(("gauge", "g", "g", ("a",), ("x",), "G."), {"multiprocess_mode": "max"})]
    assert values.get_value_class() is Recording
