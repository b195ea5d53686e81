"""Concurrency: N threads x M updates end at exactly N x M, on the lock-free cells and on the locked ones.

Every test runs under ``sys.setswitchinterval(1e-6)`` so the interpreter switches
threads as often as it can, and twice: with the cells this interpreter picks by
default (lock-free ``_AtomicValue`` on GIL builds >= 3.10) and with the locked
cells of free-threaded builds forced in.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Iterator, List

import pytest
from pyrometer import values
from pyrometer._text_format import generate_latest
from pyrometer.metrics import Counter, Gauge, Histogram, Summary
from pyrometer.openmetrics.exposition import generate_latest as om_generate_latest
from pyrometer.registry import CollectorRegistry

N = 8  # threads
M = 4000  # updates per thread


@pytest.fixture(autouse=True)
def tiny_switch_interval() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@pytest.fixture(params=["default", "mutex"])
def cells(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run once with the interpreter's default value cells and once with the locked ones forced."""
    if request.param == "mutex":
        monkeypatch.setattr(values, "_LocalValue", values.MutexValue)
        monkeypatch.setattr(values, "HistogramCounts", values._LockedHistogramCounts)
    return str(request.param)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def hammer(work: Callable[[int], None], threads: int = N) -> None:
    """Start ``threads`` threads together, each running ``work(thread_index)``, and re-raise any failure."""
    barrier = threading.Barrier(threads)
    errors: List[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as exc:  # pragma: no cover - only on failure
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []


def test_the_cells_under_test_are_the_expected_ones(registry: CollectorRegistry, cells: str) -> None:
    """The default run uses the lock-free cells on this GIL interpreter; the forced run uses the locked ones."""
    c = Counter("c", "C.", registry=registry)
    h = Histogram("h", "H.", registry=registry)
    child = Counter("lc", "L.", ["a"], registry=registry).labels("x")
    gchild = Gauge("lg", "L.", ["a"], registry=registry).labels("x")
    if cells == "mutex":
        assert type(c._value) is values.MutexValue
        assert type(h._value) is values._LockedHistogramCounts
        # No inline values where += is not atomic: label children take the locked cell too.
        assert type(child._value) is values.MutexValue and type(gchild._value) is values.MutexValue
    elif values._GIL_ATOMIC:  # values inline, in the metric or child itself
        assert type(c._value) is values.InlineCell and type(h._value) is values.InlineHistogramCounts
        assert type(child._value) is values.InlineCell and type(gchild._value) is values.InlineCell


def test_counter_inc(registry: CollectorRegistry, cells: str) -> None:
    """Concurrent ``Counter.inc()`` and ``inc(0.5)`` lose no increment."""
    c = Counter("c", "C.", registry=registry)
    half = Counter("half", "H.", registry=registry)

    def work(_: int) -> None:
        for _ in range(M):
            c.inc()
            half.inc(0.5)

    hammer(work)
    assert registry.get_sample_value("c_total") == N * M
    assert registry.get_sample_value("half_total") == N * M * 0.5


def test_gauge_inc_and_dec(registry: CollectorRegistry, cells: str) -> None:
    """Concurrent ``Gauge.inc`` and ``Gauge.dec`` lose no update."""
    up = Gauge("up", "U.", registry=registry)
    both = Gauge("both", "B.", registry=registry)

    def work(index: int) -> None:
        for _ in range(M):
            up.inc()
            if index % 2:
                both.inc(2)
            else:
                both.dec()

    hammer(work)
    assert registry.get_sample_value("up") == N * M
    assert registry.get_sample_value("both") == (N // 2) * M * 2 - (N // 2) * M


def test_histogram_observe(registry: CollectorRegistry, cells: str) -> None:
    """Concurrent ``Histogram.observe`` keeps every bucket count, the count and the sum exact."""
    h = Histogram("h", "H.", buckets=[1, 2], registry=registry)

    def work(index: int) -> None:
        amount = (0.5, 1.5, 4.0)[index % 3]
        for _ in range(M):
            h.observe(amount)

    hammer(work)
    per_amount = [sum(1 for i in range(N) if i % 3 == k) * M for k in range(3)]
    buckets = [registry.get_sample_value("h_bucket", {"le": le}) for le in ("1.0", "2.0", "+Inf")]
    assert buckets == [per_amount[0], per_amount[0] + per_amount[1], N * M]
    assert registry.get_sample_value("h_count") == N * M
    assert registry.get_sample_value("h_sum") == per_amount[0] * 0.5 + per_amount[1] * 1.5 + per_amount[2] * 4.0


def test_summary_observe(registry: CollectorRegistry, cells: str) -> None:
    """Concurrent ``Summary.observe`` keeps the count and the sum exact."""
    s = Summary("s", "S.", registry=registry)

    def work(_: int) -> None:
        for _ in range(M):
            s.observe(0.25)

    hammer(work)
    assert registry.get_sample_value("s_count") == N * M
    assert registry.get_sample_value("s_sum") == N * M * 0.25


def test_labels_creates_each_child_once(registry: CollectorRegistry, cells: str) -> None:
    """Threads racing through the same fresh label values get the same child objects and lose no increment."""
    c = Counter("c", "C.", ["k"], registry=registry)
    h = Histogram("h", "H.", ["k"], buckets=[1], registry=registry)
    uses = 4  # each thread uses each key this many times in a row, so every creation is contended
    seen: List[List[Any]] = [[] for _ in range(N)]

    def work(index: int) -> None:
        for i in range(M):
            key = str(i // uses)
            child = c.labels(key) if i % 2 else c.labels(k=key)
            child.inc()
            h.labels(key).observe(0.5)
            seen[index].append(child)

    hammer(work)
    keys = M // uses
    assert len(c._metrics) == len(h._metrics) == keys
    for per_thread in seen:
        assert all(child is c._metrics[(str(i // uses),)] for i, child in enumerate(per_thread))
    assert all(child._value.get() == N * uses for child in c._metrics.values())
    assert all(child._value.snapshot()[0][-1] == N * uses for child in h._metrics.values())


def test_many_new_children_at_once(registry: CollectorRegistry, cells: str) -> None:
    """Every thread creating its own fresh children at once leaves each with its exact count."""
    g = Gauge("g", "G.", ["thread", "n"], registry=registry)
    per_thread = M // 20

    def work(index: int) -> None:
        for n in range(per_thread):
            g.labels(index, n).inc()
            g.labels(str(index), str(n)).inc()

    hammer(work)
    assert len(g._metrics) == N * per_thread
    assert all(child._value.get() == 2.0 for child in g._metrics.values())


def test_scrapes_during_updates_do_not_fail(registry: CollectorRegistry, cells: str) -> None:
    """Scraping while other threads add, remove and clear children never raises and ends consistent."""
    c = Counter("c", "C.", ["k"], registry=registry)
    h = Histogram("h", "H.", ["k"], buckets=[1], registry=registry)
    done = threading.Event()
    scrapes = [0]

    def work(index: int) -> None:
        if index == 0:
            while not done.is_set() or scrapes[0] < 3:
                generate_latest(registry)
                om_generate_latest(registry)
                scrapes[0] += 1
            return
        for i in range(M // 4):
            key = str(i % 50)
            c.labels(key).inc()
            h.labels(key).observe(i % 3)
            if index == 1 and i % 97 == 0:
                c.remove(key)
            if index == 2 and i % 501 == 0:
                h.clear()
        if index == N - 1:
            done.set()

    hammer(work)
    assert scrapes[0] >= 3
    out = generate_latest(registry).decode()
    assert out.startswith("# HELP c_total C.\n# TYPE c_total counter\n")
