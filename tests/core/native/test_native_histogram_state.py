"""Native histogram state and the Histogram(native=True) API: counts, the bucket limit, text fallback, errors."""

from __future__ import annotations

import math
import sys
import threading
from types import SimpleNamespace
from typing import Any, Dict, List, Tuple

import pyrometer.metrics
import pytest
from pyrometer import _native_histogram as nh
from pyrometer import generate_latest, multiprocess
from pyrometer._mp_native import MultiProcessNativeState
from pyrometer.metrics import Histogram
from pyrometer.openmetrics.exposition import generate_latest as openmetrics_latest
from pyrometer.registry import CollectorRegistry
from pyrometer.samples import BucketSpan, NativeHistogram
from pyrometer.values import close_all_multiprocess_files


def make_state(schema: int, max_buckets: int, clock: Any = None, min_reset: Any = None,
               max_zero: float = 0.0) -> nh.NativeHistogramState:
    config = nh.NativeConfig(2.0 ** (2.0 ** -schema), max_buckets=max_buckets, min_reset_duration=min_reset,
                             max_zero_threshold=max_zero)
    now = (lambda: clock.now) if clock is not None else (lambda: 0.0)
    return nh.NativeHistogramState(config, [math.inf], lambda labels, value: None, now)  # type: ignore[arg-type,return-value]


def contents(s: nh.NativeHistogramState) -> Tuple[int, float, int, Dict[int, int], Dict[int, int], float, float]:
    schema, zt, zero, pos, neg = s.buckets()
    counts, total = s.snapshot()
    return schema, zt, zero, pos, neg, counts[-1], total


def test_spans_and_deltas() -> None:
    """Gaps of up to two buckets are bridged with zero counts; longer gaps start a new span."""
    assert nh.spans_and_deltas({-3: 2, -2: 1, 0: 5, 4: 1, 10: 3}) == (
        [BucketSpan(-3, 4), BucketSpan(3, 1), BucketSpan(5, 1)], [2, -1, -1, 5, -4, 2])
    assert nh.spans_and_deltas({}) == ([], [])
    assert nh.spans_and_deltas({7: 1}) == ([BucketSpan(7, 1)], [1])
    assert nh.spans_and_deltas({1: 1, 3: 1}) == ([BucketSpan(1, 3)], [1, -1, 1])


def test_native_snapshot() -> None:
    """native() gives count, sum, schema, zero bucket and both bucket sets as spans and deltas."""
    h = Histogram("lat", "Lat.", registry=CollectorRegistry(), native=True)
    for v in (0.1, 0.2, 0.2, 1.0, 5.0, -3.0, 0.0, math.nan, math.inf):
        h.observe(v)
    snap = h._value.native()
    assert snap[:3] == (9.0, snap.sum_value, 3) and math.isnan(snap.sum_value)
    assert snap[3:] == (2.0 ** -128, 1.0, [BucketSpan(-26, 1), BucketSpan(7, 1), BucketSpan(17, 1), BucketSpan(18, 1),
                                           BucketSpan(8173, 1)],
                        [BucketSpan(13, 1)], [1, 1, -1, 0, 0], [1], None)
    assert isinstance(snap, NativeHistogram)


def test_lower_schema_when_over_the_limit() -> None:
    """Without reset or zero widening, going over the limit halves the resolution: i merges into ceil(i/2)."""
    s = make_state(0, max_buckets=4)
    for v in (1.0, 2.0, 4.0, 8.0):
        s.observe(v)
    assert contents(s) == (0, 2.0 ** -128, 0, {0: 1, 1: 1, 2: 1, 3: 1}, {}, 4.0, 15.0)
    s.observe(16.0)
    assert contents(s) == (-1, 2.0 ** -128, 0, {0: 1, 1: 2, 2: 2}, {}, 5.0, 31.0)
    s.observe(-16.0)
    assert contents(s) == (-1, 2.0 ** -128, 0, {0: 1, 1: 2, 2: 2}, {2: 1}, 6.0, 15.0)
    s.observe(-0.5)  # negative key 0: 5 buckets, halve again (0 -> 0, 1 -> 1, 2 -> 1)
    assert contents(s) == (-2, 2.0 ** -128, 0, {0: 1, 1: 4}, {0: 1, 1: 1}, 7.0, 14.5)


def test_schema_never_goes_below_minus_4() -> None:
    """At schema -4 the limit is exceeded rather than losing observations."""
    s = make_state(-4, max_buckets=1)
    s.observe(1.0)
    s.observe(2.0 ** 40)
    assert contents(s) == (-4, 2.0 ** -128, 0, {0: 1, 3: 1}, {}, 2.0, 1.0 + 2.0 ** 40)


def test_widen_zero_bucket_before_lowering_schema() -> None:
    """With a max zero threshold, the buckets closest to zero (both signs) merge into the zero bucket first."""
    s = make_state(0, max_buckets=3, max_zero=1.0)
    for v in (0.25, -0.25, 0.5):
        s.observe(v)
    assert contents(s) == (0, 2.0 ** -128, 0, {-2: 1, -1: 1}, {-2: 1}, 3.0, 0.5)
    s.observe(1.0)  # 4 buckets: widen to 0.25, taking +-0.25
    assert contents(s) == (0, 0.25, 2, {-1: 1, 0: 1}, {}, 4.0, 1.5)
    s.observe(0.2)  # under the new threshold
    s.observe(2.0)
    s.observe(4.0)  # 4 buckets: widen to 0.5
    assert contents(s) == (0, 0.5, 4, {0: 1, 1: 1, 2: 1}, {}, 7.0, 7.7)
    s.observe(8.0)  # widen to 1.0 (the max)
    assert contents(s) == (0, 1.0, 5, {1: 1, 2: 1, 3: 1}, {}, 8.0, 15.7)
    s.observe(16.0)  # widening to 2.0 would pass the max: halve instead
    assert contents(s) == (-1, 1.0, 5, {1: 2, 2: 2}, {}, 9.0, 31.7)


def test_reset_when_min_reset_duration_has_passed() -> None:
    """Over the limit after native_min_reset_duration: everything resets and keeps only the overflowing value."""
    clock = SimpleNamespace(now=100.0)
    s = make_state(0, max_buckets=2, clock=clock, min_reset=10.0)
    s.observe(1.0)
    s.observe(2.0)
    clock.now = 105.0
    s.observe(4.0)  # too early to reset: halve
    assert contents(s) == (-1, 2.0 ** -128, 0, {0: 1, 1: 2}, {}, 3.0, 7.0)
    clock.now = 110.0
    s.observe(64.0)  # key 3 at schema -1: 3 buckets, 10 s passed: reset to schema 0
    assert contents(s) == (0, 2.0 ** -128, 0, {6: 1}, {}, 1.0, 64.0)
    s.observe(128.0)
    clock.now = 119.0
    s.observe(256.0)  # 9 s since the reset: halve
    assert contents(s) == (-1, 2.0 ** -128, 0, {3: 1, 4: 2}, {}, 3.0, 448.0)


def test_no_limit_with_max_buckets_zero() -> None:
    """native_max_buckets=0 keeps every bucket."""
    s = make_state(8, max_buckets=0)
    values = [1.0 + k / 128 for k in range(300)]
    for v in values:
        s.observe(v)
    keys = {nh.bucket_index(v, 8) for v in values}
    assert len(keys) == 295 and s.buckets()[0] == 8 and set(s.buckets()[3]) == keys


@pytest.fixture
def no_created(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pyrometer.metrics, "_use_created", False)


def test_text_formats_fall_back_to_count_and_sum(no_created: None) -> None:
    """Native-only: the text formats show the +Inf bucket, _count and _sum (as the Go client's text output)."""
    registry = CollectorRegistry()
    h = Histogram("lat", "Lat.", registry=registry, native=True)
    for v in (1, 2, 3):
        h.observe(v)
    expected = '# HELP lat Lat.\n# TYPE lat histogram\nlat_bucket{le="+Inf"} 3.0\nlat_count 3.0\nlat_sum 6.0\n'
    assert generate_latest(registry).decode() == expected
    assert openmetrics_latest(registry).decode() == expected + "# EOF\n"


def test_explicit_buckets_keep_the_classic_histogram(no_created: None) -> None:
    """native=True with buckets= exposes the classic buckets in the text formats, counted as usual."""
    registry = CollectorRegistry()
    h = Histogram("both", "Both.", ["a"], registry=registry, native=True, buckets=[1, 2.5])
    for v in (1, 2, 3, math.nan):
        h.labels("x").observe(v)
    assert generate_latest(registry).decode() == (
        '# HELP both Both.\n# TYPE both histogram\nboth_bucket{a="x",le="1.0"} 1.0\n'
        'both_bucket{a="x",le="2.5"} 2.0\nboth_bucket{a="x",le="+Inf"} 4.0\nboth_count{a="x"} 4.0\n'
        'both_sum{a="x"} NaN\n')
    assert h.labels("x")._value.buckets() == (3, 2.0 ** -128, 0, {0: 1, 8: 1, 13: 1}, {})


def test_collect_carries_the_native_part_on_the_count() -> None:
    """collect() gives plain samples; the _count value is a float that carries the native snapshot."""
    h = Histogram("lat", "Lat.", registry=None, native=True)
    h.observe(2.0)
    (family,) = h.collect()
    count = next(s for s in family.samples if s.name == "lat_count")
    assert count.value == 1.0 and isinstance(count.value, nh.NativeCount)
    assert count.value.native == NativeHistogram(1.0, 2.0, 3, 2.0 ** -128, 0.0, [BucketSpan(8, 1)], [], [1], [])
    assert all(s.native_histogram is None for s in family.samples)


def test_exemplars_go_to_the_classic_bucket(clock: SimpleNamespace) -> None:
    """An exemplar attaches to the classic bucket of the value (+Inf when native-only)."""
    h = Histogram("lat", "Lat.", registry=None, native=True)
    h.observe(0.5, {"trace_id": "abc"})
    assert [(s.labels, s.exemplar) for s in h.collect()[0].samples if s.exemplar] == [
        ({"le": "+Inf"}, pyrometer.metrics.Exemplar({"trace_id": "abc"}, 0.5, 1000.0))]


def test_time_and_labels_use_the_native_path() -> None:
    """Timer and labelled children observe into the native state; the labelled parent refuses to observe."""
    h = Histogram("lat", "Lat.", ["path"], registry=None, native=True)
    with h.labels("/").time():
        pass
    assert h.labels("/")._value.snapshot()[0] == [1.0]
    with pytest.raises(ValueError, match=r"^histogram metric is missing label values$"):
        h.observe(1.0)


def test_classic_histograms_are_untouched() -> None:
    """Without native=True a histogram keeps the classic counts and observe method."""
    from pyrometer.metrics import _InlineHistogram

    h = Histogram("lat", "Lat.", registry=None)
    assert h._native is None
    assert getattr(h.observe, "__func__", None) in (Histogram.observe, _InlineHistogram.observe)
    assert type(h._value).__name__ in ("InlineHistogramCounts", "_HistogramCounts", "_LockedHistogramCounts")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"native_bucket_factor": 1.0}, "native_bucket_factor must be greater than 1, got 1.0"),
    ({"native_bucket_factor": math.nan}, "native_bucket_factor must be greater than 1, got nan"),
    ({"native_zero_threshold": -1.0}, "native_zero_threshold must be a finite number >= 0, got -1.0"),
    ({"native_max_buckets": -1}, "native_max_buckets must be an int >= 0 (0: no limit), got -1"),
    ({"native_max_buckets": 2.5}, "native_max_buckets must be an int >= 0 (0: no limit), got 2.5"),
    ({"native_min_reset_duration": 0}, "native_min_reset_duration must be None or > 0 seconds, got 0"),
    ({"native_max_zero_threshold": math.inf}, "native_max_zero_threshold must be a finite number >= 0, got inf"),
])
def test_bad_options_are_refused_at_construction(kwargs: Dict[str, Any], message: str) -> None:
    """Each bad native option raises ValueError naming it."""
    with pytest.raises(ValueError) as info:
        Histogram("lat", "Lat.", registry=None, native=True, **kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize("labelnames", [(), ("path",)])
def test_multiprocess_mode_merges_instead_of_refusing(monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
                                                      labelnames: Tuple[str, ...]) -> None:
    """native=True in multiprocess mode writes to the worker's files and the MultiProcessCollector serves it."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    try:
        h = Histogram("lat", "Lat.", labelnames, registry=None, native=True)
        child = h.labels("/x") if labelnames else h
        child.observe(0.5)
        child.observe(-0.5)
        assert isinstance(child._value, MultiProcessNativeState)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, str(tmp_path))
        (family,) = registry.collect()
        count = next(s.value for s in family.samples if s.name == "lat_count")
        assert count.native == NativeHistogram(2.0, 0.0, 3, 2.0 ** -128, 0.0, [BucketSpan(-8, 1)],
                                               [BucketSpan(-8, 1)], [1], [1])
    finally:
        close_all_multiprocess_files()


def test_concurrent_observers_lose_nothing() -> None:
    """Threads observing while the limit keeps coarsening the schema and a reader snapshots: exact totals."""
    h = Histogram("lat", "Lat.", registry=None, native=True, native_max_buckets=12)
    values: List[float] = [(-1) ** k * 1.37 ** (k % 61 - 30) for k in range(2000)] + [0.0] * 10
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            h._value.native()

    def work() -> None:
        for _ in range(5):
            for v in values:
                h.observe(v)

    try:
        reader = threading.Thread(target=read)
        reader.start()
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        reader.join()
    finally:
        sys.setswitchinterval(old)
    schema, _, zero, pos, neg = h._value.buckets()
    total = 4 * 5 * len(values)
    assert h._value.snapshot()[0] == [float(total)]
    assert zero + sum(pos.values()) + sum(neg.values()) == total
    assert schema < 3 and len(pos) + len(neg) <= 12
    # Every observation sits in its exact bucket at the final schema (a stale index would misplace it).
    expected_pos: Dict[int, int] = {}
    expected_neg: Dict[int, int] = {}
    for v in values:
        if v:
            side = expected_pos if v > 0 else expected_neg
            key = nh.bucket_index(v, schema)
            side[key] = side.get(key, 0) + 20
    assert (pos, neg, zero) == (expected_pos, expected_neg, 200)


def test_locked_state_matches_the_lock_free_one() -> None:
    """The variant for interpreters without atomic += (3.9, free-threaded) counts exactly the same."""
    config = nh.NativeConfig(max_buckets=8, max_zero_threshold=0.01)
    values = [0.001, -0.002, 0.0, math.nan, math.inf, -math.inf, 1.0, 2.0 ** 0.125, 3.3, -7.0, 1e300, 5e-324]
    values += [1.1 ** k for k in range(-40, 40, 3)]
    states = [cls(config, [1.0, math.inf], lambda labels, value: labels)  # type: ignore[arg-type,return-value]
              for cls in (nh.NativeHistogramState, nh._LockedNativeHistogramState)]
    for s in states:
        for v in values:
            s.observe(v, {"v": "x"} if v == 3.3 or v != v else None)
    (schema, zt, zero, pos, neg), locked = states[0].buckets(), states[1].buckets()
    assert locked == (schema, zt, zero, pos, neg) and schema < 3
    assert states[1].snapshot()[0] == states[0].snapshot()[0] == [21.0, 39.0]
    assert states[1].exemplars() == states[0].exemplars() == [None, {"v": "x"}]


def test_native_only_state_derives_the_count_like_the_general_state() -> None:
    """Without classic buckets the count is zero + buckets + NaN: the same numbers as the general state keeps."""
    from pyrometer import _native_only

    config = nh.NativeConfig(max_buckets=8, max_zero_threshold=0.01)
    values = [0.001, -0.002, 0.0, math.nan, math.inf, -math.inf, 1.0, 2.0 ** 0.125, 3.3, -7.0, 1e300, 5e-324]
    values += [1.1 ** k for k in range(-40, 40, 3)]
    states = [cls(config, [math.inf], lambda labels, value: labels)  # type: ignore[arg-type,return-value]
              for cls in (nh.NativeHistogramState, _native_only.NativeOnlyState, _native_only._LockedNativeOnlyState)]
    for s in states:
        for v in values:
            s.observe(v, {"v": "x"} if v == 3.3 or v != v else None)
    general = states[0]
    for s in states[1:]:
        assert s.buckets() == general.buckets()
        counts, total = s.snapshot()
        assert counts == general.snapshot()[0] == [float(len(values))] and math.isnan(total)
        assert s.exemplars() == general.exemplars() == [{"v": "x"}]
        assert s.native().count_value == general.native().count_value == len(values)
    assert type(Histogram("only", "O.", registry=None, native=True)._value) is _native_only.NativeOnlyStateClass


@pytest.mark.parametrize("buckets", [(), [math.inf], ("+Inf",)])
def test_native_only_spellings(buckets: Any) -> None:
    """No buckets, or +Inf alone, mean a native-only histogram (the classic rule of two buckets does not apply)."""
    h = Histogram("lat", "Lat.", registry=None, native=True, buckets=buckets)
    h.observe(3.0)
    assert (h._upper_bounds, h._le, h._value.snapshot()) == ([math.inf], ("+Inf",), ([1.0], 3.0))


def test_classic_bucket_rules_still_apply() -> None:
    """Without native=True, fewer than two buckets are still refused."""
    with pytest.raises(ValueError) as info:
        Histogram("lat", "Lat.", registry=None, buckets=())
    assert str(info.value) == "Must have at least two buckets"
