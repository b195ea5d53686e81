"""The workloads, each run the same way on every library.

A workload takes the library module and a size, and returns
``(seconds_per_unit, check)``: ``check`` is what the run counted, so the
runner can verify it was exact.
"""

from __future__ import annotations

import gc
import importlib
import time
import tracemalloc
from types import ModuleType
from typing import Callable, Dict, Tuple

Result = Tuple[float, bool]


def _loop(fn: Callable[[], object], n: int) -> float:
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n
    finally:
        gc.enable()


def counter_inc(lib: ModuleType, n: int) -> Result:
    c = lib.Counter("bench_c", "d", registry=None)
    per = _loop(c.inc, n)
    return per, c._value.get() == n


def counter_labels_args(lib: ModuleType, n: int) -> Result:
    c = lib.Counter("bench_c", "d", ["a", "b"], registry=None)
    per = _loop(lambda: c.labels("a", "b").inc(), n)
    return per, c.labels("a", "b")._value.get() == n


def counter_labels_kwargs(lib: ModuleType, n: int) -> Result:
    c = lib.Counter("bench_c", "d", ["method", "status"], registry=None)
    per = _loop(lambda: c.labels(method="GET", status="200").inc(), n)
    return per, c.labels("GET", "200")._value.get() == n


def histogram_observe(lib: ModuleType, n: int) -> Result:
    h = lib.Histogram("bench_h", "d", registry=None)
    per = _loop(lambda: h.observe(0.3), n)
    return per, _histogram_count(lib, h) == n


def histogram_time(lib: ModuleType, n: int) -> Result:
    h = lib.Histogram("bench_h", "d", registry=None)

    def timed() -> None:
        with h.time():
            pass
    per = _loop(timed, n)
    return per, _histogram_count(lib, h) == n


def _histogram_count(lib: ModuleType, h: object) -> float:
    for metric in h.collect():  # type: ignore[attr-defined]
        for s in metric.samples:
            if s.name.endswith("_count"):
                return s.value
    return -1


def _new_children(lib: ModuleType, kind: str, n: int) -> Result:
    m = getattr(lib, kind)("bench_new", "d", ["i"], registry=None)
    values = [str(i) for i in range(n)]
    it = iter(values)
    per = _loop(lambda: m.labels(next(it)), n)
    return per, len(next(iter(m.collect())).samples) > 0


def new_child_counter(lib: ModuleType, n: int) -> Result:
    return _new_children(lib, "Counter", n)


def new_child_histogram(lib: ModuleType, n: int) -> Result:
    return _new_children(lib, "Histogram", n)


def _scrape(lib: ModuleType, n: int, writer: Callable[[object], bytes]) -> Result:
    reg = lib.CollectorRegistry()
    c = lib.Counter("bench_scrape", "d", ["i"], registry=reg)
    for i in range(n):
        c.labels(str(i)).inc(i)
    writer(reg)  # first render fills caches in pyrometer; steady state is what scrapes see
    start = time.perf_counter()
    body = writer(reg)
    per = (time.perf_counter() - start) / n
    return per, body.count(b"bench_scrape_total{") == n


def text_exposition(lib: ModuleType, n: int) -> Result:
    return _scrape(lib, n, lib.generate_latest)


def openmetrics_exposition(lib: ModuleType, n: int) -> Result:
    om = importlib.import_module(lib.__name__ + ".openmetrics.exposition")
    return _scrape(lib, n, om.generate_latest)


def memory_per_counter_child(lib: ModuleType, n: int) -> Result:
    """Bytes per labelled counter child after one increment and one scrape."""
    reg = lib.CollectorRegistry()
    c = lib.Counter("bench_mem", "d", ["i"], registry=reg)
    values = [f"value-{i}" for i in range(n)]  # label strings are the user's, outside the measurement
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for v in values:
        c.labels(v).inc()
    lib.generate_latest(reg)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / n, len(next(iter(c.collect())).samples) >= n


# name -> (function, full size, quick size, unit, target as "pyrometer <= x")
WORKLOADS: Dict[str, Tuple[Callable[[ModuleType, int], Result], int, int, str, str]] = {
    "Counter.inc()": (counter_inc, 300_000, 50_000, "ns", "150 ns"),
    "Counter.labels('a','b').inc()": (counter_labels_args, 200_000, 30_000, "ns", "400 ns"),
    "labels(method=..., status=...).inc()": (counter_labels_kwargs, 200_000, 30_000, "ns", "500 ns"),
    "Histogram.observe()": (histogram_observe, 200_000, 30_000, "ns", "300 ns"),
    "with Histogram.time():": (histogram_time, 200_000, 30_000, "ns", "500 ns"),
    "new label child, counter": (new_child_counter, 50_000, 10_000, "us", "2 us"),
    "new label child, histogram": (new_child_histogram, 10_000, 2_000, "us", "5 us"),
    "generate_latest text, counters": (text_exposition, 100_000, 10_000, "us/series", "5 us"),
    "OpenMetrics, counters": (openmetrics_exposition, 10_000, 5_000, "us/series", "7 us"),
    "memory per counter child": (memory_per_counter_child, 20_000, 5_000, "bytes", "300 bytes"),
}
