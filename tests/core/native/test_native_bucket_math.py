"""Bucket math of native histograms (pyrometer._native_histogram) against the exact definition.

Bucket ``i`` of schema ``s`` holds ``base**(i-1) < |v| <= base**i`` with ``base = 2**(2**-s)`` (Prometheus docs);
the reference below decides that with integer arithmetic, so it is exact for every float.
"""

from __future__ import annotations

import math
import sys
from typing import List

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pyrometer import _native_histogram as nh
from pyrometer.metrics import Histogram
from pyrometer.registry import CollectorRegistry

SCHEMAS = range(nh.SCHEMA_MIN, nh.SCHEMA_MAX + 1)
MAX = sys.float_info.max
TINY = 5e-324  # the smallest subnormal


def at_most_power(v: float, i: int, schema: int) -> bool:
    """Exactly whether ``v <= 2**(i / 2**schema)`` (v > 0, finite)."""
    num, den = v.as_integer_ratio()
    if schema >= 0:
        n = 1 << schema
        lhs, rhs = num ** n, den ** n  # v**n <= 2**i
        return lhs <= rhs << i if i >= 0 else lhs << -i <= rhs
    e = i << -schema  # base**i is the integer power 2**e
    return num <= den << e if e >= 0 else num << -e <= den


def reference_index(value: float, schema: int) -> int:
    """The smallest i with |value| <= base**i; ±Inf one past ±MaxFloat64's bucket (the Go client's choice)."""
    v = abs(value)
    if v == math.inf:
        return reference_index(MAX, schema) + 1
    i = math.ceil(math.log2(v) * 2.0 ** schema)  # a guess, corrected exactly below
    while not at_most_power(v, i, schema):
        i += 1
    while at_most_power(v, i - 1, schema):
        i -= 1
    return i


def state(schema: int, zero_threshold: float = nh.DEFAULT_ZERO_THRESHOLD) -> nh.NativeHistogramState:
    config = nh.NativeConfig(bucket_factor=2.0 ** (2.0 ** -schema), zero_threshold=zero_threshold, max_buckets=0)
    assert config.schema == schema
    return nh.NativeHistogramState(config, [math.inf], lambda labels, value: None)  # type: ignore[arg-type,return-value]


def observed_bucket(value: float, schema: int, zero_threshold: float = nh.DEFAULT_ZERO_THRESHOLD) -> str:
    """Where the state puts one observation: 'zero', 'none' (NaN), or '+i' / '-i'."""
    s = state(schema, zero_threshold)
    s.observe(value)
    _, _, zero, pos, neg = s.buckets()
    assert s.snapshot()[0] == [1.0], "every observation counts, NaN included"
    if zero:
        assert (zero, pos, neg) == (1, {}, {})
        return "zero"
    if not pos and not neg:
        return "none"
    ((key, count),) = (pos or neg).items()
    assert count == 1 and type(key) is int
    return ("+" if pos else "-") + str(key)


finite = st.floats(min_value=TINY, max_value=MAX, allow_nan=False, allow_infinity=False)
schemas = st.sampled_from(list(SCHEMAS))


@settings(max_examples=400, deadline=None)
@given(finite, schemas)
@example(TINY, 8)
@example(2.2250738585072014e-308, 8)  # the smallest normal
@example(2.225073858507201e-308, -4)  # the largest subnormal
@example(MAX, 8)
@example(MAX, -4)
@example(1.0, 3)
@example(math.nextafter(1.0, 2.0), 3)
@example(math.nextafter(1.0, 0.0), 3)
@example(0.5452538663326288, 3)  # nearest float above 2**(1/8)/2: the Go client's table puts it one bucket low
@example(0.5452538663326287, 3)
def test_bucket_index_is_exact(v: float, schema: int) -> None:
    """bucket_index agrees with the exact definition for every positive float and schema."""
    assert nh.bucket_index(v, schema) == reference_index(v, schema)
    assert nh.bucket_index(-v, schema) == reference_index(v, schema)


@settings(max_examples=300, deadline=None)
@given(finite, schemas)
@example(0.1, 3)
@example(2.0 ** 10, 0)
@example(math.nextafter(2.0 ** -5, 1.0), 2)
def test_observe_puts_values_in_the_exact_bucket(v: float, schema: int) -> None:
    """The lock-free observe path (log2 with an exactness margin) lands where the exact definition says."""
    if v <= nh.DEFAULT_ZERO_THRESHOLD:
        assert observed_bucket(v, schema) == "zero"
        return
    assert observed_bucket(v, schema) == f"+{reference_index(v, schema)}"
    assert observed_bucket(-v, schema) == f"-{reference_index(v, schema)}"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_exact_powers_of_the_base_close_their_own_bucket(schema: int) -> None:
    """base**i is the upper bound of bucket i: exact powers of two (and of the base, for schema <= 0) land in i."""
    n = 2.0 ** schema
    for k in range(-1074, 1024, 7):
        v = 2.0 ** k
        expected = math.ceil(k * n)  # 2**k == base**(k * 2**schema), exactly a boundary when that is whole
        assert nh.bucket_index(v, schema) == expected, v
        assert observed_bucket(v, schema, 0.0) == f"+{expected}"
        assert nh.bucket_index(math.nextafter(v, math.inf), schema) == reference_index(
            math.nextafter(v, math.inf), schema)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_infinities_go_one_past_the_largest_float(schema: int) -> None:
    """±Inf land in the bucket after ±MaxFloat64's, counted in the positive/negative buckets like the Go client."""
    top = reference_index(MAX, schema)
    assert top == 1024 << schema if schema >= 0 else 1024 >> -schema
    assert observed_bucket(math.inf, schema) == f"+{top + 1}"
    assert observed_bucket(-math.inf, schema) == f"-{top + 1}"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_nan_and_zero(schema: int) -> None:
    """NaN counts (count and sum) but lands in no bucket; 0 and -0 land in the zero bucket, even with threshold 0."""
    assert observed_bucket(math.nan, schema) == "none"
    assert observed_bucket(0.0, schema) == "zero"
    assert observed_bucket(-0.0, schema, 0.0) == "zero"
    assert observed_bucket(0.0, schema, 0.0) == "zero"


@pytest.mark.parametrize("zt", [nh.DEFAULT_ZERO_THRESHOLD, 1e-3, 0.5, TINY])
def test_zero_threshold_is_inclusive(zt: float) -> None:
    """|v| <= zero_threshold goes to the zero bucket; the next float out goes to its exact bucket."""
    for sign in (1.0, -1.0):
        assert observed_bucket(sign * zt, 3, zt) == "zero"
        assert observed_bucket(math.nextafter(sign * zt, 0.0), 3, zt) == "zero"
        above = math.nextafter(sign * zt, sign * math.inf)
        assert observed_bucket(above, 3, zt) == ("+" if sign > 0 else "-") + str(reference_index(above, 3))


def test_subnormals_below_a_zero_threshold_of_zero_get_buckets() -> None:
    """With threshold 0, subnormals get their exact (very negative) bucket."""
    for v in (TINY, 1e-310, 2.225073858507201e-308):
        for schema in (-4, 0, 8):
            assert observed_bucket(v, schema, 0.0) == f"+{reference_index(v, schema)}"


@pytest.mark.parametrize("schema", range(1, nh.SCHEMA_MAX + 1))
def test_bounds_table_is_rounded_down(schema: int) -> None:
    """Each table entry is the largest float at most 2**(j/2**schema)/2, so bisection over it is exact."""
    table: List[float] = nh.bounds(schema)
    assert len(table) == 1 << schema and table[0] == 0.5
    for j, c in enumerate(table):
        assert at_most_power(2 * c, j, schema)
        assert not at_most_power(2 * math.nextafter(c, 1.0), j, schema)


@pytest.mark.parametrize(("factor", "schema"), [
    (1.1, 3), (2.0, 0), (4.0, -1), (65536.0, -4), (1e9, -4), (1.0001, 8), (2.0 ** 0.125, 3),
    (math.nextafter(2.0 ** 0.125, 2.0), 3), (math.nextafter(2.0 ** 0.125, 0.0), 4), (1.5, 1), (1.0027, 8),
])
def test_schema_from_bucket_factor(factor: float, schema: int) -> None:
    """The coarsest schema whose growth factor is at most the requested one (Go's pickSchema)."""
    assert nh.pick_schema(factor) == schema


def test_upper_bound_is_the_bucket_boundary() -> None:
    """upper_bound(i, s) is base**i as a float (rounded down for irrational bounds, MaxFloat64 at the top)."""
    assert nh.upper_bound(0, 3) == 1.0
    assert nh.upper_bound(8, 3) == 2.0
    assert nh.upper_bound(-1, 0) == 0.5
    assert nh.upper_bound(3, -2) == 4096.0
    assert nh.upper_bound(1, 1) == 2 * nh.bounds(1)[1] == 1.414213562373095
    assert nh.upper_bound(1024 << 3, 3) == MAX
    assert nh.upper_bound(1024 >> 4, -4) == MAX


def test_default_histogram_options() -> None:
    """native=True alone: schema 3, zero threshold 2**-128, at most 160 buckets, no reset, no zero widening."""
    h = Histogram("h", "H.", registry=CollectorRegistry(), native=True)
    config = h._native
    assert config is not None
    assert (config.schema, config.zero_threshold, config.max_buckets, config.min_reset_duration,
            config.max_zero_threshold) == (3, 2.0 ** -128, 160, None, 0.0)
