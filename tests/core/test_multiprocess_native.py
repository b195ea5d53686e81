"""Native histograms in multiprocess mode with real worker processes: the merged protobuf, folds, limits, fork."""

from __future__ import annotations

import math
import os
from collections import Counter as Tally
from typing import Any, Dict, List, Sequence, Tuple

import pyrometer
import pytest
from metric_helpers import hammer
from native._metrics_proto import absolute, decode
from pyrometer import _mp_native, _mp_read, _native_histogram, multiprocess
from pyrometer._protobuf import generate_latest as protobuf_latest
from pyrometer.exposition import generate_latest
from pyrometer.metrics import _exemplar
from pyrometer.registry import CollectorRegistry
from test_multiprocess import count_parses, run, scrape


def _registry(path: str) -> CollectorRegistry:
    reg = CollectorRegistry()
    multiprocess.MultiProcessCollector(reg, path=path)
    return reg


def _native(path: str, name: str = "lat_seconds") -> Any:
    """The one Histogram message of family ``name`` in the merged protobuf scrape."""
    fams = {f.name: f for f in decode(protobuf_latest(_registry(path)))}
    (metric,) = fams[name].metric
    return metric.histogram


def _layout(h: Any) -> Dict[str, Any]:
    return {"schema": h.schema, "zero_threshold": h.zero_threshold, "zero_count": h.zero_count,
            "count": h.sample_count, "sum": h.sample_sum,
            "pos": [(s.offset, s.length) for s in h.positive_span], "pos_deltas": list(h.positive_delta),
            "neg": [(s.offset, s.length) for s in h.negative_span], "neg_deltas": list(h.negative_delta)}


def _observe(values: Sequence[float], kwargs: Dict[str, Any]) -> None:
    h = pyrometer.Histogram("lat_seconds", "Latency.", registry=None, native=True, **kwargs)
    for v in values:
        h.observe(v)


# Worker A: factor 1.1 (schema 3). Worker B: schema 3 too, but 3 buckets at most: four powers of two take it
# down to schema -1 (base 4). Worker C: schema 3 with a zero threshold of 0.3.
A = ([0.5, 1.0, 16.0, -2.0, 0.0], {})
B = ([1.0, 2.0, 4.0, 8.0], {"native_max_buckets": 3})
C = ([0.25, 0.125, 3.0], {"native_zero_threshold": 0.3})

# At schema -1 bucket i is (4**(i-1), 4**i]. Threshold 0.3 (C's, the largest) lies inside bucket 0 = (0.25, 1],
# which holds A's 0.5 and 1.0 and B's 1.0: the threshold widens to 1.0 and the bucket joins the zero bucket
# (A's 0.0, C's 0.25 and 0.125). Left: bucket 1 (B's 2, 4 and C's 3), bucket 2 (A's 16, B's 8), negative 1 (-2).
MERGED = {"schema": -1, "zero_threshold": 1.0, "zero_count": 6, "count": 12, "sum": 33.875,
          "pos": [(1, 2)], "pos_deltas": [3, -1], "neg": [(1, 1)], "neg_deltas": [1]}


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_at_different_schemas_merge_at_the_coarsest(mpdir: str, method: str) -> None:
    """Three workers (schema 3, schema lowered to -1 by the limit, wider zero bucket) merge into exact counts."""
    run(_observe, [A, B, C], method)
    assert _layout(_native(mpdir)) == MERGED
    assert generate_latest(_registry(mpdir)).decode() == (
        "# HELP lat_seconds Latency.\n"
        "# TYPE lat_seconds histogram\n"
        "lat_seconds_sum 33.875\n"
        'lat_seconds_bucket{le="+Inf"} 12.0\n'
        "lat_seconds_count 12.0\n")


def test_folding_dead_workers_keeps_the_merged_histogram(mpdir: str) -> None:
    """mark_process_dead folds each worker's buckets into merged.db; every scrape after it is the same bytes."""
    pids = run(_observe, [A, B, C])
    before = protobuf_latest(_registry(mpdir))
    for pid in pids:
        multiprocess.mark_process_dead(pid, mpdir)
        assert protobuf_latest(_registry(mpdir)) == before
    assert sorted(os.listdir(mpdir)) == ["merged.db", "merged.lock"]
    assert _layout(_native(mpdir)) == MERGED
    run(_observe, [A])  # a new live worker next to merged.db
    again = _layout(_native(mpdir))
    assert (again["count"], again["sum"], again["zero_count"]) == (17, 49.375, 9)
    assert (again["pos"], again["pos_deltas"]) == ([(1, 2)], [3, 0])


def test_folded_worker_buckets_are_kept_at_one_schema(mpdir: str) -> None:
    """After folding the worker that lowered its schema, merged.db holds its buckets at schema -1 only."""
    (pid,) = run(_observe, [B])
    multiprocess.mark_process_dead(pid, mpdir)
    with open(os.path.join(mpdir, "merged.db"), "rb") as f:
        meta, vals = _mp_read.read_merged_bytes(f.read())
    buckets = {tuple(k[9]): vals[2 * k[0]] for k in meta["keys"] if k[2] == _mp_native.BUCKET}
    assert buckets == {(-1, 1, 0): 1.0, (-1, 1, 1): 2.0, (-1, 1, 2): 1.0}
    assert _layout(_native(mpdir)) == {"schema": -1, "zero_threshold": 2.0 ** -128, "zero_count": 0, "count": 4,
                                       "sum": 15.0, "pos": [(0, 3)], "pos_deltas": [1, 1, -1], "neg": [],
                                       "neg_deltas": []}


_SAME = [[0.001 * 1.7 ** k for k in range(25)], [-0.3, 0.0, 2.0, 2.0, 5.5], [1e-3, 1e-3, 123.0, math.nan]]


def test_same_schema_sums_bucket_for_bucket(mpdir: str) -> None:
    """Workers at one schema add up exactly: every value in the bucket it has at schema 3; classic buckets too."""
    run(_observe, [(v, {"buckets": [0.01, 1.0]}) for v in _SAME])
    h = _native(mpdir)
    values = [v for vs in _SAME for v in vs]
    finite = [v for v in values if v == v]
    pos = Tally(_native_histogram.bucket_index(v, 3) for v in finite if v > 0)
    neg = Tally(_native_histogram.bucket_index(v, 3) for v in finite if v < 0)
    assert (h.schema, h.zero_count, h.sample_count) == (3, 1, len(values))
    assert math.isnan(h.sample_sum)  # NaN is in the sum, like the Go client
    assert absolute(h.positive_span, h.positive_delta) == dict(pos)
    assert absolute(h.negative_span, h.negative_delta) == dict(neg)
    got = scrape(mpdir)
    assert got[("lat_seconds_bucket", (("le", "0.01"),))] == sum(1 for v in finite if v <= 0.01)
    assert got[("lat_seconds_bucket", (("le", "1.0"),))] == sum(1 for v in finite if v <= 1.0)
    assert got[("lat_seconds_count", ())] == len(values)


def _observe_inherited(h: Any, values: List[float]) -> None:
    for v in values:
        h.observe(v)


def test_forked_child_writes_its_own_files(mpdir: str) -> None:
    """A child forked after the parent lowered its schema starts afresh in its own files; the scrape adds both."""
    h = pyrometer.Histogram("lat_seconds", "Latency.", registry=None, native=True, native_max_buckets=2)
    for v in (1.0, 2.0, 4.0):  # the parent goes down to schema -1: buckets 0 and 1
        h.observe(v)
    run(_observe_inherited, [(h, [8.0, 8.0])])  # the child: schema 3 again, bucket 24
    h.observe(16.0)  # the parent's third bucket: schema -2, base 16
    assert len([n for n in os.listdir(mpdir) if n.endswith(".keys")]) == 2
    assert _layout(_native(mpdir)) == {"schema": -2, "zero_threshold": 2.0 ** -128, "zero_count": 0, "count": 6,
                                       "sum": 39.0, "pos": [(0, 2)], "pos_deltas": [1, 4], "neg": [],
                                       "neg_deltas": []}


@pytest.mark.parametrize("kwargs", [
    {"native_max_buckets": 4},
    {"native_max_buckets": 6, "native_max_zero_threshold": 100.0},  # widening alone gets within the limit
    {"native_bucket_factor": 1.01, "native_max_buckets": 10},
    {"native_max_buckets": 0},
])
def test_worker_limit_matches_single_process(mpdir: str, kwargs: Dict[str, Any]) -> None:
    """A worker's own buckets after the limit (lower schema, widen zero) equal the single-process state's."""
    values = [(-1) ** k * 1.37 ** (k % 23 - 11) for k in range(200)] + [0.0]
    h = pyrometer.Histogram("lat_seconds", "Latency.", registry=None, native=True, **kwargs)
    assert isinstance(h._value, _mp_native.MultiProcessNativeState)
    local = _native_histogram.StateClass(h._native, [math.inf], _exemplar)
    for v in values:
        h.observe(v)
        local.observe(v)
    assert h._value.buckets() == local.buckets()
    assert _native(mpdir).schema == local.buckets()[0]


def test_zero_threshold_inside_a_coarser_bucket_widens_to_it(mpdir: str) -> None:
    """Widened then lowered, a worker's threshold straddles a populated bucket: like Prometheus, it widens to it.

    The single-process state keeps the straddling threshold (0.0442, a schema-3 boundary, inside schema -4's
    bucket 0 = (2**-16, 1]); the scrape, reducing first, folds that bucket too. Same counts, wider zero bucket.
    """
    values = [(-1) ** k * 1.37 ** (k % 23 - 11) for k in range(200)] + [0.0]
    kwargs = {"native_max_buckets": 3, "native_max_zero_threshold": 0.05}
    h = pyrometer.Histogram("lat_seconds", "Latency.", registry=None, native=True, **kwargs)
    local = _native_histogram.StateClass(h._native, [math.inf], _exemplar)
    for v in values:
        h.observe(v)
        local.observe(v)
    schema, zt, zero, pos, neg = local.buckets()
    assert (schema, zt) == (-4, _native_histogram.upper_bound(-36, 3))
    assert h._value.buckets() == (-4, 1.0, zero + pos.pop(0) + neg.pop(0), pos, neg)


def test_reset_after_min_reset_duration(mpdir: str) -> None:
    """Over the limit after native_min_reset_duration, a worker zeroes its series and keeps the overflowing value."""
    now = [0.0]
    config = _native_histogram.NativeConfig(max_buckets=2, min_reset_duration=60.0)
    state = _mp_native.StateClass(config, [math.inf], _exemplar, mpdir, os.getpid, "lat_seconds", "Latency.", (),
                                  (), ["+Inf"], now=lambda: now[0])
    for v in (1.0, 2.0, 4.0):  # before 60 s: lowers the schema from 3 to -1 (buckets 0, 1, 1)
        state.observe(v)
    assert state.buckets() == (-1, 2.0 ** -128, 0.0, {0: 1.0, 1: 2.0}, {})
    now[0] = 61.0
    state.observe(8.0)  # a third bucket: resets, keeping 8 (bucket 24 at schema 3)
    assert state.buckets() == (3, 2.0 ** -128, 0.0, {24: 1.0}, {})
    assert _layout(_native(mpdir)) == {"schema": 3, "zero_threshold": 2.0 ** -128, "zero_count": 0, "count": 1,
                                       "sum": 8.0, "pos": [(24, 1)], "pos_deltas": [1], "neg": [],
                                       "neg_deltas": []}


def test_remove_hides_every_slot_of_the_series(mpdir: str) -> None:
    """remove() of a native child hides its buckets, layout and classic part; re-creating it starts at zero."""
    h = pyrometer.Histogram("lat_seconds", "Latency.", ["route"], registry=None, native=True)
    h.labels("/a").observe(1.0)
    h.labels("/b").observe(2.0)
    h.remove("/a")
    fams = {f.name: f for f in decode(protobuf_latest(_registry(mpdir)))}
    assert [(m.label[0].value, m.histogram.sample_count) for m in fams["lat_seconds"].metric] == [("/b", 1)]
    h.labels("/a").observe(4.0)
    got: Tuple[Any, ...] = tuple(
        (m.label[0].value, m.histogram.sample_count, absolute(m.histogram.positive_span, m.histogram.positive_delta))
        for m in decode(protobuf_latest(_registry(mpdir)))[0].metric)
    assert sorted(got) == [("/a", 1, {16: 1}), ("/b", 1, {8: 1})]


def test_exemplar_reaches_the_scrape(mpdir: str) -> None:
    """An exemplar given to observe() is attached to the +Inf bucket of the merged native histogram."""
    h = pyrometer.Histogram("lat_seconds", "Latency.", registry=None, native=True)
    h.observe(0.25, {"trace_id": "abc"})
    (bucket,) = _native(mpdir).bucket
    assert (bucket.upper_bound, bucket.exemplar.value, [(p.name, p.value) for p in bucket.exemplar.label]) == (
        math.inf, 0.25, [("trace_id", "abc")])


def test_concurrent_observers_lose_nothing(mpdir: str) -> None:
    """Threads of one worker observing while the limit keeps lowering the schema: exact totals at the scrape."""
    h = pyrometer.Histogram("lat_seconds", "Latency.", registry=None, native=True, native_max_buckets=12)
    values = [(-1) ** k * 1.37 ** (k % 61 - 30) for k in range(1000)] + [0.0] * 10
    hammer(lambda _: _observe_inherited(h, values), threads=4)
    got = _native(mpdir)
    buckets = sum(absolute(got.positive_span, got.positive_delta).values()) + sum(
        absolute(got.negative_span, got.negative_delta).values())
    assert (got.sample_count, got.zero_count + buckets) == (4 * len(values), 4 * len(values))
    assert len(absolute(got.positive_span, got.positive_delta)) + len(
        absolute(got.negative_span, got.negative_delta)) <= 12


def test_locked_state_counts_the_same(mpdir: str) -> None:
    """The every-observation-locked state (interpreters without atomic +=) gives the same buckets and scrape."""
    config = _native_histogram.NativeConfig(max_buckets=5)
    values = [(-1) ** k * 1.37 ** (k % 23 - 11) for k in range(100)] + [0.0, math.nan]
    states = [cls(config, [0.5, math.inf], _exemplar, mpdir, lambda i=i: f"s{i}", "lat_seconds", "Latency.", (), (),
                  ["0.5", "+Inf"]) for i, cls in enumerate((_mp_native.MultiProcessNativeState,
                                                            _mp_native._LockedMultiProcessNativeState))]
    for v in values:
        for s in states:
            s.observe(v)
    assert states[0].buckets() == states[1].buckets()
    assert states[0].snapshot()[0] == states[1].snapshot()[0] == [sum(1 for v in values if v <= 0.5), 102.0]
    assert _native(mpdir).sample_count == 2 * len(values)


def test_scrape_decodes_each_native_key_line_once(mpdir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Native buckets are key lines like any series: a second scrape parses none, a new bucket parses one."""
    h = pyrometer.Histogram("lat_seconds", "Latency.", registry=None, native=True)
    for v in (0.5, 1.0, 2.0):
        h.observe(v)
    _native(mpdir)
    parsed = count_parses(monkeypatch)
    h.observe(1.0)  # an existing bucket: no new line
    assert _native(mpdir).sample_count == 4
    assert sum(parsed) == 0
    h.observe(64.0)  # a new bucket: one new line
    assert absolute(_native(mpdir).positive_span, _native(mpdir).positive_delta) == {-8: 1, 0: 2, 8: 1, 48: 1}
    assert sum(parsed) == 1
