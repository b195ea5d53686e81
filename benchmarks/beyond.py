"""Rows for what prometheus_client cannot do, measured against the nearest thing it or pyrometer can.

- native histogram ``observe()`` against pyrometer's own classic ``observe()``: the
  issue's target is a ratio (native within 1.5x of classic), not an absolute time;
- ``Summary`` with quantile objectives against prometheus_client's ``Summary``, which
  has none (so the ratio is the price of the quantiles, with no target).

The observed values are a fixed-seed log-normal sample, so native observations spread
over many buckets as real latencies do rather than hitting one bucket.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from typing import Any, Callable, Dict, List

import prometheus_client
import pyrometer

NS = 1e9
OBJECTIVES = {0.5: 0.05, 0.9: 0.01, 0.99: 0.001}


def _values(n: int) -> List[float]:
    rng = random.Random(7)
    return [rng.lognormvariate(-3.0, 1.0) for _ in range(n)]


def _observe_all(observe: Callable[[float], None], values: List[float]) -> float:
    """Seconds per ``observe(v)`` over ``values``, less the cost of the bare loop."""
    gc.disable()
    try:
        start = time.perf_counter()
        for v in values:
            observe(v)
        spent = time.perf_counter() - start
        start = time.perf_counter()
        for _v in values:
            pass
        empty = time.perf_counter() - start
    finally:
        gc.enable()
    return (spent - empty) / len(values)


def _count(metric: Any) -> float:
    for family in metric.collect():
        for s in family.samples:
            if s.name.endswith("_count"):
                return s.value
    return -1.0


def _row(label: str, anchor: str, anchor_ns: List[float], ours_ns: List[float], target: str, exact: bool,
         size: int) -> Dict[str, Any]:
    a, p = statistics.median(anchor_ns), statistics.median(ours_ns)
    return {"workload": label, "unit": "ns", "anchor": anchor, "anchor_value": a, "pyrometer": p,
            "ratio": p / a if a else None, "target": target, "exact": exact, "size": size, "note": ""}


def _interleaved_row(label: str, anchor: str, make_anchor: Callable[[], Any], make_ours: Callable[[], Any],
                     size: int, repeats: int, target: str) -> Dict[str, Any]:
    """``observe()`` of a fresh anchor metric and a fresh pyrometer one over the same values, interleaved.

    Each repeat times both on new metrics, one after the other, so drift of the machine hits both alike; the
    row is exact when every metric ends with a count of ``size``.
    """
    values = _values(size)
    anchor_ns: List[float] = []
    ours_ns: List[float] = []
    exact = True
    for _ in range(repeats):
        theirs, ours = make_anchor(), make_ours()
        anchor_ns.append(_observe_all(theirs.observe, values) * NS)
        ours_ns.append(_observe_all(ours.observe, values) * NS)
        exact = exact and _count(theirs) == size and _count(ours) == size
    return _row(label, anchor, anchor_ns, ours_ns, target, exact, size)


def native_rows(size: int, repeats: int, target: str) -> List[Dict[str, Any]]:
    """Native ``observe()`` against classic ``observe()``, both pyrometer, interleaved."""
    return [_interleaved_row("native Histogram.observe() vs classic", "pyrometer classic observe()",
                             lambda: pyrometer.Histogram("bench_classic", "d", registry=None),
                             lambda: pyrometer.Histogram("bench_native", "d", registry=None, native=True),
                             size, repeats, target)]


def summary_quantile_rows(size: int, repeats: int, target: str) -> List[Dict[str, Any]]:
    """``Summary`` with objectives (pyrometer) against a ``Summary`` without (prometheus_client)."""
    return [_interleaved_row("Summary.observe() with 3 quantile objectives", "prometheus_client, no quantiles",
                             lambda: prometheus_client.Summary("bench_plain", "d", registry=None),
                             lambda: pyrometer.Summary("bench_quantiles", "d", registry=None, objectives=OBJECTIVES),
                             size, repeats, target)]
