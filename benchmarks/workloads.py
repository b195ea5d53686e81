"""The workloads, each run the same way on every library.

A workload takes the library module and a size, and returns
``(seconds_per_unit, check)``: ``check`` is what the run counted, so the
runner can verify it was exact.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import multiprocessing
import os
import shutil
import tempfile
import time
import tracemalloc
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Tuple

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


def text_exposition_once(lib: ModuleType, n: int) -> Result:
    """Seconds for one whole scrape of ``n`` counter series (the issue's anchor: 100k series)."""
    per, ok = _scrape(lib, n, lib.generate_latest)
    return per * n, ok


def openmetrics_exposition(lib: ModuleType, n: int) -> Result:
    om = importlib.import_module(lib.__name__ + ".openmetrics.exposition")
    return _scrape(lib, n, om.generate_latest)


def _memory_per_child(lib: ModuleType, n: int, metric: Any, update: Callable[[Any], None]) -> Result:
    """Bytes per labelled child of ``metric`` after one ``update(child)`` and one scrape."""
    reg = lib.CollectorRegistry()
    reg.register(metric)
    values = [f"value-{i}" for i in range(n)]  # label strings are the user's, outside the measurement
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for v in values:
        update(metric.labels(v))
    lib.generate_latest(reg)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / n, len(next(iter(metric.collect())).samples) >= n


def memory_per_counter_child(lib: ModuleType, n: int) -> Result:
    """Bytes per labelled counter child after one increment and one scrape."""
    return _memory_per_child(lib, n, lib.Counter("bench_mem", "d", ["i"], registry=None), lambda c: c.inc())


def memory_per_histogram_child(lib: ModuleType, n: int) -> Result:
    """Bytes per labelled histogram child (default buckets) after one observation and one scrape."""
    return _memory_per_child(lib, n, lib.Histogram("bench_mem_h", "d", ["i"], registry=None),
                             lambda h: h.observe(0.3))


# -- multiprocess ------------------------------------------------------------------


@contextlib.contextmanager
def _multiprocess(lib: ModuleType) -> Iterator[str]:
    """A temporary PROMETHEUS_MULTIPROC_DIR with ``lib``'s multiprocess value class in force."""
    values = importlib.import_module(lib.__name__ + ".values")
    path = tempfile.mkdtemp(prefix="bench-mp-")
    old_env, old_cls = os.environ.get("PROMETHEUS_MULTIPROC_DIR"), values.ValueClass
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    values.ValueClass = values.MultiProcessValue()
    try:
        yield path
    finally:
        values.ValueClass = old_cls
        values.close_all_multiprocess_files()
        if old_env is None:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = old_env
        shutil.rmtree(path, ignore_errors=True)


def mp_counter_inc(lib: ModuleType, n: int) -> Result:
    with _multiprocess(lib):
        c = lib.Counter("bench_c", "d", registry=None)
        per = _loop(c.inc, n)
        return per, c._value.get() == n


def mp_histogram_observe(lib: ModuleType, n: int) -> Result:
    with _multiprocess(lib):
        h = lib.Histogram("bench_h", "d", registry=None)
        per = _loop(lambda: h.observe(0.3), n)
        return per, _histogram_count(lib, h) == n


def _mp_writer(lib_name: str, series: int) -> None:
    lib = importlib.import_module(lib_name)
    c = lib.Counter("bench_mp", "d", ["i"], registry=None)
    for i in range(series):
        c.labels(str(i)).inc()


def _mp_workers(lib: ModuleType, path: str, workers: int, series: int) -> List[int]:
    ctx = multiprocessing.get_context("fork")
    pids: List[int] = []
    for start in range(0, workers, 16):
        procs = [ctx.Process(target=_mp_writer, args=(lib.__name__, series))
                 for _ in range(min(16, workers - start))]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        pids += [p.pid for p in procs]  # type: ignore[misc]
    return pids


def _mp_scrape(lib: ModuleType, live: int, series: int, dead: int = 0) -> Result:
    """Seconds for one scrape of ``live`` workers' files (after ``dead`` workers retired), and exactness."""
    mp = importlib.import_module(lib.__name__ + ".multiprocess")
    with _multiprocess(lib) as path:
        if dead:
            for pid in _mp_workers(lib, path, dead, series):
                mp.mark_process_dead(pid, path)
        _mp_workers(lib, path, live, series)
        reg = lib.CollectorRegistry()
        mp.MultiProcessCollector(reg, path=path)
        lib.generate_latest(reg)  # a long-lived scraper process: its second scrape is the steady state
        start = time.perf_counter()
        body = lib.generate_latest(reg)
        per = time.perf_counter() - start
        total = sum(float(line.rsplit(b" ", 1)[1]) for line in body.splitlines() if line.startswith(b"bench_mp_"))
        return per, total == (live + dead) * series and body.count(b"bench_mp_total{") == series


def _mp_scrape_row(live: int, dead: int = 0) -> Callable[[ModuleType, int], Result]:
    return lambda lib, series: _mp_scrape(lib, live, series, dead)


# name -> (function, full size, quick size (0: full mode only), unit, target as "pyrometer <= x")
WORKLOADS: Dict[str, Tuple[Callable[[ModuleType, int], Result], int, int, str, str]] = {
    "Counter.inc()": (counter_inc, 300_000, 50_000, "ns", "150 ns"),
    "Counter.labels('a','b').inc()": (counter_labels_args, 200_000, 30_000, "ns", "400 ns"),
    "labels(method=..., status=...).inc()": (counter_labels_kwargs, 200_000, 30_000, "ns", "500 ns"),
    "Histogram.observe()": (histogram_observe, 200_000, 30_000, "ns", "300 ns"),
    "with Histogram.time():": (histogram_time, 200_000, 30_000, "ns", "500 ns"),
    "new label child, counter": (new_child_counter, 50_000, 10_000, "us", "2 us"),
    "new label child, histogram": (new_child_histogram, 10_000, 2_000, "us", "5 us"),
    "generate_latest text, counters": (text_exposition, 10_000, 10_000, "us/series", "5 us"),
    "generate_latest text, 100k counters, 1 scrape": (text_exposition_once, 100_000, 0, "ms", "500 ms"),
    "OpenMetrics, counters": (openmetrics_exposition, 10_000, 5_000, "us/series", "7 us"),
    "memory per counter child": (memory_per_counter_child, 20_000, 5_000, "bytes", "300 bytes"),
    "memory per histogram child": (memory_per_histogram_child, 5_000, 1_000, "bytes", "-"),
    "multiprocess Counter.inc()": (mp_counter_inc, 200_000, 30_000, "ns", "400 ns"),
    "multiprocess Histogram.observe()": (mp_histogram_observe, 200_000, 30_000, "ns", "700 ns"),
    # size = series per worker
    "mp scrape, 4 workers x S series": (_mp_scrape_row(4), 1_000, 100, "ms", "-"),
    "mp scrape, 16 workers x S series": (_mp_scrape_row(16), 1_000, 100, "ms", "-"),
    "mp scrape, 64 workers x S series": (_mp_scrape_row(64), 1_000, 50, "ms", "-"),
    "mp scrape, 4 live after 200 dead x S": (_mp_scrape_row(4, 200), 1_000, 20, "ms", "-"),
}
