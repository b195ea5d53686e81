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


def native_rows(size: int, repeats: int, target: str) -> List[Dict[str, Any]]:
    """Native ``observe()`` against classic ``observe()``, both pyrometer, interleaved."""
    values = _values(size)
    classic_ns: List[float] = []
    native_ns: List[float] = []
    exact = True
    for _ in range(repeats):
        classic = pyrometer.Histogram("bench_classic", "d", registry=None)
        native = pyrometer.Histogram("bench_native", "d", registry=None, native=True)
        classic_ns.append(_observe_all(classic.observe, values) * NS)
        native_ns.append(_observe_all(native.observe, values) * NS)
        exact = exact and _count(classic) == size and _count(native) == size
    return [_row("native Histogram.observe() vs classic", "pyrometer classic observe()", classic_ns, native_ns,
                 target, exact, size)]


def summary_quantile_rows(size: int, repeats: int, target: str) -> List[Dict[str, Any]]:
    """``Summary`` with objectives (pyrometer) against a ``Summary`` without (prometheus_client)."""
    values = _values(size)
    plain_ns: List[float] = []
    quantile_ns: List[float] = []
    exact = True
    for _ in range(repeats):
        plain = prometheus_client.Summary("bench_plain", "d", registry=None)
        quantiles = pyrometer.Summary("bench_quantiles", "d", registry=None, objectives=OBJECTIVES)
        plain_ns.append(_observe_all(plain.observe, values) * NS)
        quantile_ns.append(_observe_all(quantiles.observe, values) * NS)
        exact = exact and _count(plain) == size and _count(quantiles) == size
    return [_row("Summary.observe() with 3 quantile objectives", "prometheus_client, no quantiles", plain_ns,
                 quantile_ns, target, exact, size)]
