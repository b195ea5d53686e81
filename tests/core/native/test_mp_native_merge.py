"""The merge of native histograms across workers (pyrometer._mp_native): schema reduction, zero bucket, fold."""

from __future__ import annotations

import json
import math
from array import array
from typing import Any, Dict, List, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st
from pyrometer._mp_native import (
    BUCKET,
    META,
    coarseness,
    compact_folded,
    merge,
    merge_all,
    reduce_buckets,
    reduce_index,
    schema_of,
    widen_zero,
)
from pyrometer._native_histogram import SCHEMA_MAX, SCHEMA_MIN, bucket_index, upper_bound

Part = Tuple[int, float, float, Dict[Tuple[int, int, int], float]]


@given(st.floats(min_value=1e-300, max_value=1e300), st.integers(SCHEMA_MIN, SCHEMA_MAX),
       st.integers(SCHEMA_MIN, SCHEMA_MAX))
@settings(max_examples=300, deadline=None)
def test_reducing_an_index_equals_bucketing_at_the_coarser_schema(value: float, s: int, t: int) -> None:
    """For any value, the bucket at schema s reduced to t is the bucket the value has at t (both signs' indexes)."""
    s, t = max(s, t), min(s, t)
    assert reduce_index(bucket_index(value, s), s, t) == bucket_index(value, t)


def test_reduce_index_at_boundaries_and_below_one() -> None:
    """Upper boundaries stay in their bucket and negative indexes round up: ceil(i / 2**(s - t))."""
    assert [reduce_index(i, 3, 0) for i in (-17, -16, -9, -8, -7, -1, 0, 1, 8, 9, 16)] == [
        -2, -2, -1, -1, 0, 0, 0, 1, 1, 2, 2]
    assert [reduce_index(i, 1, -1) for i in (-5, -4, -3, 0, 3, 4, 5)] == [-1, -1, 0, 0, 1, 1, 2]
    assert all(reduce_index(i, s, t) == math.ceil(i / 2 ** (s - t)) for i in range(-70, 70) for s, t in
               ((8, -4), (3, 2), (0, -4)))


def test_schema_is_stored_as_coarseness() -> None:
    """A zero-filled slot means an unknown schema; every real schema round-trips and coarser stores larger."""
    assert schema_of(0.0) is None and schema_of(14.0) is None
    assert [schema_of(coarseness(s)) for s in range(SCHEMA_MIN, SCHEMA_MAX + 1)] == list(
        range(SCHEMA_MIN, SCHEMA_MAX + 1))
    assert coarseness(-4) > coarseness(0) > coarseness(8) >= 1


def test_same_schema_sums_bucket_for_bucket() -> None:
    """Workers at one schema merge into the exact per-bucket sums; counts are kept as they are."""
    a: Part = (3, 0.0, 2.0, {(3, 1, 0): 1.0, (3, 1, 5): 2.0, (3, -1, 5): 4.0})
    b: Part = (3, 0.0, 1.0, {(3, 1, 5): 3.0, (3, 1, 9): 1.0})
    assert merge_all([a, b]) == (3, 0.0, 3.0, {0: 1.0, 5: 5.0, 9: 1.0}, {5: 4.0})


def test_buckets_within_the_threshold_fold_and_a_straddled_one_widens_it() -> None:
    """Buckets up to the threshold join the zero bucket; a populated straddling bucket raises the threshold."""
    pos = {-2: 1.0, 0: 2.0, 1: 4.0}
    neg = {-1: 8.0, 3: 16.0}
    # schema 0: bucket i is (2**(i-1), 2**i]; threshold 0.5 covers -2 and -1 exactly, 0.75 lies inside bucket 0.
    assert widen_zero(0, 0.5, 1.0, dict(pos), dict(neg)) == (0.5, 10.0)
    p, n = dict(pos), dict(neg)
    assert widen_zero(0, 0.75, 1.0, p, n) == (1.0, 12.0)
    assert (p, n) == ({1: 4.0}, {3: 16.0})
    # An empty bucket never straddles: nothing stored there, threshold stays.
    assert widen_zero(0, 3.0, 0.0, {3: 1.0}, {}) == (3.0, 0.0)


def test_different_thresholds_take_the_largest() -> None:
    """The merged threshold is the largest worker's, and the other workers' buckets within it fold."""
    a: Part = (2, 2.0 ** -128, 0.0, {(2, 1, -4): 3.0, (2, 1, 4): 1.0})
    b: Part = (2, 0.5, 5.0, {(2, 1, 8): 1.0})
    assert merge_all([a, b]) == (2, 0.5, 8.0, {4: 1.0, 8: 1.0}, {})


def test_unknown_schema_and_zero_counts() -> None:
    """Without an announced schema the buckets' coarsest is used; zero counts (after a reset) are dropped."""
    assert merge(None, 0.0, 0.0, {(5, 1, 32): 2.0, (2, 1, 5): 1.0, (-4, 1, 9): 0.0}) == (2, 0.0, 0.0, {4: 2.0,
                                                                                                     5: 1.0}, {})
    assert merge(None, 0.0, 0.0, {}) == (0, 0.0, 0.0, {}, {})


_parts = st.lists(st.tuples(
    st.integers(-2, 6),
    st.sampled_from([0.0, 2.0 ** -128, 0.001, 0.3, 1.0, 2.5]),
    st.integers(0, 5).map(float),
    st.dictionaries(st.tuples(st.just(0), st.sampled_from([1, -1]), st.integers(-40, 40)),
                    st.integers(1, 9).map(float), max_size=12),
), min_size=1, max_size=4)


def _at_schema(parts: List[Any]) -> List[Part]:
    """Give each part's buckets its own schema (keys are generated with a placeholder schema)."""
    return [(s, zt, zero, {(s, sign, i): c for (_, sign, i), c in b.items()}) for s, zt, zero, b in parts]


def _summed(parts: List[Part]) -> Dict[Tuple[int, int, int], float]:
    out: Dict[Tuple[int, int, int], float] = {}
    for p in parts:
        for k, c in p[3].items():
            out[k] = out.get(k, 0.0) + c
    return out


@given(_parts, st.integers(0, 4))
@settings(max_examples=300, deadline=None)
def test_merging_then_reducing_equals_reducing_then_merging(raw: List[Any], lower: int) -> None:
    """For random bucket sets at random schemas: sum-then-reduce equals reduce-each-then-sum, and so do the merges."""
    parts = _at_schema(raw)
    t = max(min(p[0] for p in parts) - lower, SCHEMA_MIN)
    merged_first = reduce_buckets(_summed(parts), t)
    reduced_first = _summed([(t, p[1], p[2], reduce_buckets(p[3], t)) for p in parts])
    assert merged_first == reduced_first
    zt, zero = max(p[1] for p in parts), sum(p[2] for p in parts)
    assert merge(t, zt, zero, _summed(parts)) == merge(t, zt, zero, reduced_first)
    schema, zt, zero, pos, neg = merge(t, zt, zero, reduced_first)
    assert schema == t
    assert zero + sum(pos.values()) + sum(neg.values()) == sum(p[2] + sum(p[3].values()) for p in parts)


@given(_parts, st.data())
@settings(max_examples=200, deadline=None)
def test_folding_some_workers_first_changes_no_scrape(raw: List[Any], data: st.DataObject) -> None:
    """Compacting any subset of workers into merged.db first, then merging with the rest, gives the same result."""
    parts = _at_schema(raw)
    chosen = [data.draw(st.booleans()) for _ in parts]
    folded = [p for p, fold in zip(parts, chosen) if fold]
    live = [p for p, fold in zip(parts, chosen) if not fold]
    if folded:
        target = min(p[0] for p in folded)
        compacted: Part = (target, max(p[1] for p in folded), sum(p[2] for p in folded),
                           reduce_buckets(_summed(folded), target))
        live.append(compacted)
    assert merge_all(live) == merge_all(parts)


@given(_parts)
@settings(max_examples=200, deadline=None)
def test_summing_per_key_first_equals_merging_workers(raw: List[Any]) -> None:
    """What a scrape does (sum each stored (schema, sign, index) over workers, then merge) equals merging workers."""
    parts = _at_schema(raw)
    summed: Dict[Tuple[int, int, int], float] = {}
    for p in parts:
        for k, c in p[3].items():
            summed[k] = summed.get(k, 0.0) + c
    scrape = merge(min(p[0] for p in parts), max(p[1] for p in parts), sum(p[2] for p in parts), summed)
    assert scrape == merge_all(parts)
    schema, zt, _, pos, neg = scrape
    for i in (*pos, *neg):
        assert upper_bound(i, schema) > zt  # nothing left inside the zero bucket
        assert upper_bound(i - 1, schema) >= zt  # and nothing straddling it


def test_compact_folded_reduces_merged_db_to_one_schema() -> None:
    """The fold rewrites a series' buckets at its coarsest schema, summing those that meet, and nothing else."""
    head = ["lat", "Lat.", "lat", ["route"], ["/x"]]
    meta = [0, 3, META, "", *head, None, None]
    table: Dict[str, Tuple[List[Any], array]] = {
        json.dumps(meta[2:]): (meta, array("d", [1.0, 0.0, 0.5, 0.0, coarseness(1), 0.0])),
    }
    for key, count in (((3, 1, 8), 2.0), ((3, 1, 1), 1.0), ((1, 1, 2), 4.0), ((3, -1, 9), 1.0), ((1, 1, -2), 7.0)):
        line = [0, 1, BUCKET, "", *head, list(key), None]
        table[json.dumps(line[2:])] = (line, array("d", [count, 0.0]))
    other = [0, 1, "counter", "", "c", "C.", "c_total", [], [], None, None]
    table[json.dumps(other[2:])] = (other, array("d", [3.0, 0.0]))
    compact_folded(table)
    got = {tuple(line[9]): slots.tolist() for line, slots in table.values() if line[2] == BUCKET}
    # schema 3 -> 1: 8 -> 2, 1 -> 1, 9 -> 3 (negative); bucket -2 stays, the zero bucket is the scrape's job.
    assert got == {(1, 1, -2): [7.0, 0.0], (1, 1, 1): [1.0, 0.0], (1, 1, 2): [6.0, 0.0], (1, -1, 3): [1.0, 0.0]}
    assert table[json.dumps(meta[2:])][1].tolist() == [1.0, 0.0, 0.5, 0.0, coarseness(1), 0.0]
    assert table[json.dumps(other[2:])][1].tolist() == [3.0, 0.0]
