"""The six metric types: methods, errors, context managers, decorators, exemplars and created series."""

from __future__ import annotations

import asyncio
import inspect
import math
from types import SimpleNamespace
from typing import Any

import pyrometer.metrics
import pytest
from metric_helpers import raises_exactly, value
from pyrometer import values
from pyrometer._text_format import generate_latest
from pyrometer.metrics import Counter, Enum, Gauge, Histogram, Info, Summary
from pyrometer.openmetrics.exposition import generate_latest as om_generate_latest
from pyrometer.registry import CollectorRegistry

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
