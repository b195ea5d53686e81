"""The C accelerator (``pyrometer._speedups``: Timer, bucket_key) and the pure-Python code behave identically."""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import shutil
import subprocess
import sys
import tracemalloc
import weakref
from typing import Any, List

import pyrometer.metrics
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrometer import (
    CollectorRegistry,
    Gauge,
    Histogram,
    Summary,
    _accel,
    _native_histogram,
    context_managers,
    generate_latest,
)

_NO_EXTENSIONS = os.environ.get("PYROMETER_NO_EXTENSIONS", "") not in ("", "0")
NOT_BUILT = "pyrometer._speedups is not built (no C compiler at install time) or PYROMETER_NO_EXTENSIONS is set"
IMPLEMENTATIONS = [
    pytest.param(context_managers._PyTimer, id="python"),
    pytest.param(context_managers.Timer, id="c", marks=pytest.mark.skipif(not context_managers.SPEEDUPS,
                                                                          reason=NOT_BUILT)),
]


@pytest.fixture(params=IMPLEMENTATIONS)
def timer_cls(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type:
    """Each implementation, also as the class the metrics' ``time()`` builds."""
    monkeypatch.setattr(pyrometer.metrics, "Timer", request.param)
    return request.param  # type: ignore[no-any-return]


class Recorder:
    """A stand-in metric that remembers what its callback got."""

    def __init__(self) -> None:
        self.seen: List[float] = []
        self.children: dict = {}

    def record(self, duration: float) -> None:
        self.seen.append(duration)

    def fail(self, duration: float) -> None:
        self.seen.append(duration)
        raise ValueError("callback failed")

    def labels(self, *args: Any, **kw: Any) -> Recorder:
        key = args or tuple(sorted(kw.items()))
        return self.children.setdefault(key, Recorder())


def test_duration_is_set_when_the_block_ends_and_reported(timer_cls: type) -> None:
    """``duration`` is None inside the block, then the non-negative float seconds the callback also got."""
    metric = Recorder()
    timer = timer_cls(metric, "record")
    assert timer.duration is None
    with timer as entered:
        assert entered is timer
        assert timer.duration is None
        assert metric.seen == []
    assert type(timer.duration) is float
    assert timer.duration >= 0.0
    assert metric.seen == [timer.duration]
    refs = sys.getrefcount(timer.duration)  # outside the assert, which keeps references of its own
    assert refs == 3  # the timer's, the recorder's list's, and getrefcount's argument
    assert timer._metric is metric
    assert timer._callback_name == "record"


def test_keyword_arguments_and_writable_attributes(timer_cls: type) -> None:
    """The constructor takes keywords; ``_metric`` and ``_callback_name`` can be replaced before the block ends."""
    first, second = Recorder(), Recorder()
    timer = timer_cls(metric=first, callback_name="fail")
    with timer:
        timer._metric = second
        timer._callback_name = "record"
    assert first.seen == []
    assert second.seen == [timer.duration]


def test_constructor_arguments(timer_cls: type) -> None:
    """Positional and keyword arguments mix as in a Python signature; a wrong count is a TypeError."""
    metric = Recorder()
    with timer_cls(metric, callback_name="record"):
        pass
    assert len(metric.seen) == 1
    for args, kw in (((metric,), {}), ((metric, "record", 1), {}), ((), {"metric": metric}),
                     ((metric,), {"metric": metric, "callback_name": "record"}), ((metric, "record"), {"x": 1})):
        with pytest.raises(TypeError):
            timer_cls(*args, **kw)


def test_subclass(timer_cls: type) -> None:
    """A subclass times blocks, decorates, and its ``_new_timer`` builds the subclass."""

    class Sub(timer_cls):  # type: ignore[misc,valid-type]
        __slots__ = ()

    metric = Recorder()
    with Sub(metric, "record") as timer:
        timer.labels("a")
    assert metric.children[("a",)].seen == [timer.duration]
    assert type(timer._new_timer()) is Sub
    assert Sub(metric, "record")(lambda: 5)() == 5
    assert len(metric.seen) == 1


def test_metrics_time_end_to_end(timer_cls: type, registry: CollectorRegistry) -> None:
    """Histogram, Summary and Gauge ``time()`` build the implementation and count every block exactly."""
    h = Histogram("h", "H.", buckets=[10.0], registry=registry)
    s = Summary("s", "S.", registry=registry)
    g = Gauge("g", "G.", registry=registry)
    g.set(-1)
    for metric in (h, s):
        for _ in range(3):
            with metric.time() as timer:
                pass
            assert isinstance(timer, timer_cls)
    with g.time() as gauge_timer:
        pass
    text = generate_latest(registry)
    assert b'h_bucket{le="10.0"} 3.0\n' in text
    assert b"h_count 3.0\n" in text
    assert b"s_count 3.0\n" in text
    assert g._value.get() == gauge_timer.duration


def test_labels_inside_the_block_routes_to_the_child(timer_cls: type, registry: CollectorRegistry) -> None:
    """``labels()`` in the block reports to that child (positional or keyword values), never to the parent."""
    h = Histogram("h", "H.", ["outcome"], buckets=[10.0], registry=registry)
    with h.time() as timer:
        timer.labels("ok")
    with h.time() as timer:
        timer.labels(outcome="error")
    with h.time() as timer:
        timer.labels("ok")
    text = generate_latest(registry)
    assert b'h_count{outcome="ok"} 2.0\n' in text
    assert b'h_count{outcome="error"} 1.0\n' in text


def test_exception_in_the_block_propagates_and_is_timed(timer_cls: type) -> None:
    """An exception leaves the block unchanged (``__exit__`` never swallows it) and the block is still reported."""
    metric = Recorder()
    error = KeyError("inside")
    with pytest.raises(KeyError) as caught:
        with timer_cls(metric, "record") as timer:
            raise error
    assert caught.value is error
    assert metric.seen == [timer.duration]
    assert timer.__exit__(None, None, None) is None


def test_callback_error_propagates(timer_cls: type) -> None:
    """An error raised by the callback leaves the block, chained to the block's own exception if there was one."""
    metric = Recorder()
    with pytest.raises(ValueError, match=r"^callback failed$"):
        with timer_cls(metric, "fail") as timer:
            pass
    assert metric.seen == [timer.duration]
    with pytest.raises(ValueError, match=r"^callback failed$") as caught:
        with timer_cls(metric, "fail"):
            raise KeyError("inside")
    assert isinstance(caught.value.__context__, KeyError)
    with pytest.raises(AttributeError, match="missing"):
        with timer_cls(metric, "missing"):
            pass
    assert len(metric.seen) == 2


def test_callback_name_that_is_not_a_string(timer_cls: type) -> None:
    """A callback name that is not a string fails at the end of the block, as ``getattr`` does."""
    with pytest.raises(TypeError, match="attribute name must be string"):
        with timer_cls(Recorder(), 1):
            pass


def test_exit_without_enter_fails(timer_cls: type) -> None:
    """Leaving a block that was never entered is an AttributeError and reports nothing."""
    metric = Recorder()
    with pytest.raises(AttributeError, match="_start"):
        timer_cls(metric, "record").__exit__(None, None, None)
    assert metric.seen == []


def test_a_timer_entered_twice_reports_twice(timer_cls: type) -> None:
    """Entering the same timer again restarts its clock; each block is reported and ``duration`` is the last one."""
    metric = Recorder()
    timer = timer_cls(metric, "record")
    with timer:
        pass
    first = timer.duration
    with timer:
        pass
    assert metric.seen == [first, timer.duration]
    assert metric.seen[1] is timer.duration


def test_decorator_gives_every_call_its_own_timer(timer_cls: type) -> None:
    """A decorated sync or async function keeps its name and result; concurrent calls each report once."""
    metric = Recorder()
    timer = timer_cls(metric, "record")

    @timer
    def work(n: int) -> int:
        """Doc."""
        return n * 2

    @timer
    async def step(n: int) -> int:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return n

    async def main() -> List[int]:
        return await asyncio.gather(*(step(i) for i in range(5)))

    assert work(3) == 6
    assert (work.__name__, work.__doc__) == ("work", "Doc.")
    assert asyncio.run(main()) == [0, 1, 2, 3, 4]
    assert len(metric.seen) == 6
    assert all(type(d) is float and d >= 0.0 for d in metric.seen)
    assert timer.duration is None  # the decorating timer itself never runs


def test_decorator_timer_labels_are_per_call(timer_cls: type) -> None:
    """``labels()`` on a decorated call's timer does not leak into the next call."""
    metric = Recorder()
    timer = timer_cls(metric, "record")
    made = [timer._new_timer() for _ in range(2)]
    assert made[0] is not made[1]
    assert all(type(t) is timer_cls and t._metric is metric and t._callback_name == "record" for t in made)
    with made[0] as t:
        t.labels("a")
    with made[1]:
        pass
    assert len(metric.seen) == 1
    assert len(metric.children[("a",)].seen) == 1


def test_no_memory_growth_over_many_blocks(timer_cls: type) -> None:
    """100k timed blocks allocate nothing that outlives them."""
    metric = Recorder()
    metric.record = lambda duration: None  # type: ignore[method-assign]

    def run(n: int) -> None:
        for _ in range(n):
            with timer_cls(metric, "record"):
                pass

    run(1000)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run(100_000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 4096


class Name(str):
    """A callback name that can be watched with a weak reference."""


def test_references_are_released(timer_cls: type) -> None:
    """Collected timers hold no reference to their metric, callback name or durations."""
    metric = Recorder()
    name = Name("record")
    name_ref = weakref.ref(name)
    before = sys.getrefcount(metric)
    timers = [timer_cls(metric, name) for _ in range(1000)]
    for timer in timers:
        with timer:
            timer.labels  # noqa: B018 - a bound-method lookup must not keep anything either
    assert sys.getrefcount(metric) == before + 1000
    durations = [timer.duration for timer in timers]
    assert metric.seen == durations
    del timer, timers, name, durations
    metric.seen.clear()
    gc.collect()
    assert sys.getrefcount(metric) == before
    assert name_ref() is None


def test_reference_cycle_through_the_metric_is_collected(timer_cls: type) -> None:
    """A timer reachable from its own metric is freed by the cycle collector."""
    metric = Recorder()
    metric.timer = timer_cls(metric, "record")  # type: ignore[attr-defined]
    metric_ref = weakref.ref(metric)
    del metric
    gc.collect()
    assert metric_ref() is None


def test_default_timer_class() -> None:
    """``time()`` returns ``context_managers.Timer``: the C one exactly when ``SPEEDUPS`` says, named the same."""
    h = Histogram("h", "H.", registry=None)
    assert isinstance(h.time(), context_managers.Timer)
    assert (context_managers.Timer is not context_managers._PyTimer) is context_managers.SPEEDUPS
    for cls in (context_managers.Timer, context_managers._PyTimer):
        assert (cls.__module__, cls.__qualname__) == ("pyrometer.context_managers", "Timer")
        assert inspect.cleandoc(cls.__doc__ or "") == inspect.cleandoc(context_managers._PyTimer.__doc__ or "")
        assert cls.labels.__doc__ == "Report to the child with these label values."


def _speedups_in_subprocess(**env: str) -> str:
    code = "import pyrometer.context_managers as cm; print(cm.SPEEDUPS, cm.Timer is cm._PyTimer)"
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def test_no_extensions_environment_variable_selects_pure_python() -> None:
    """``PYROMETER_NO_EXTENSIONS=1`` at import gives the pure-Python Timer."""
    assert _speedups_in_subprocess(PYROMETER_NO_EXTENSIONS="1") == "False True"


@pytest.mark.skipif(not (os.environ.get("CI") and shutil.which("cc")) or _NO_EXTENSIONS,
                    reason="only on CI, with a C compiler and without PYROMETER_NO_EXTENSIONS")
def test_extension_is_built_on_ci() -> None:
    """On CI, where a compiler is installed, the install must have built the extension and Timer must use it."""
    done = subprocess.run([sys.executable, "-c", "import pyrometer._speedups"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert context_managers.SPEEDUPS


# -- bucket_key: the native-histogram index ------------------------------------------------------------------

_c_bucket_key = getattr(_accel.speedups, "bucket_key", None)
needs_c_key = pytest.mark.skipif(_c_bucket_key is None, reason=NOT_BUILT)


@needs_c_key
@settings(max_examples=3000, deadline=None)
@given(magnitude=st.floats(min_value=0.0, exclude_min=True, allow_infinity=True, allow_nan=False)
       | st.integers(min_value=1, max_value=2**1000),
       schema=st.integers(min_value=-4, max_value=8))
def test_c_bucket_key_agrees_with_the_python_one(magnitude: float, schema: int) -> None:
    """Same index, or the same refusal (None: the exact path decides), for every float, int and schema."""
    scale = 2.0 ** schema
    expected = _native_histogram._py_bucket_key(magnitude, scale)
    assert _c_bucket_key(magnitude, scale) == expected
    if expected is not None:  # and a certain key is the exact one
        assert expected == _native_histogram.bucket_index(magnitude, schema)


@needs_c_key
@pytest.mark.parametrize("magnitude", [0.5, 1.0, 2.0, 2.0 ** 0.125, float("inf"), 5e-324, 1.7976931348623157e308])
def test_c_bucket_key_declines_exactly_where_python_does(magnitude: float) -> None:
    """Powers of the base and infinities are left to the exact path by both."""
    assert _c_bucket_key(magnitude, 8.0) == _native_histogram._py_bucket_key(magnitude, 8.0)
    with pytest.raises(TypeError):
        _c_bucket_key("1.5", 8.0)
    with pytest.raises(TypeError, match="bucket_key expected 2 arguments, got 1"):
        _c_bucket_key(1.5)


def test_a_patched_default_timer_gives_the_durations(timer_cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests patch ``context_managers.default_timer`` for fixed durations; both Timers read the patched clock."""
    ticks = iter([10.0, 12.5, 20, 21])
    monkeypatch.setattr(context_managers, "default_timer", lambda: next(ticks))
    h = Histogram("patched", "P.", buckets=[1, 5], registry=None)
    with h.time() as timer:
        pass
    assert timer.duration == 2.5
    with h.time() as timer:  # ints are fine too
        pass
    assert timer.duration == 1.0
    assert h._value.snapshot() == ([1.0, 2.0, 2.0], 3.5)  # 1.0 is in le="1", 2.5 in le="5"
    monkeypatch.undo()
    with h.time() as timer:  # back to the real clock
        pass
    assert 0.0 <= timer.duration < 1.0
