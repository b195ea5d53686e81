"""A real Prometheus 2.42 (native histograms on) scrapes native histograms merged over 4 Gunicorn workers.

The app (``native_app.py``, plain WSGI) runs under Gunicorn with 4 sync workers in multiprocess mode, with the
pyrometer_gunicorn hooks in a generated ``gunicorn.conf.py``. The module sends a known data set (fixed-seed
lognormal values plus zeros and negatives) in two halves, SIGKILLs a worker that served some of the first half
in between (Gunicorn respawns it, ``child_exit`` folds its files into merged.db), and checks through the HTTP
query API that Prometheus, scraping over protobuf, sees exact totals and quantiles within the schema's error.
"""

from __future__ import annotations

import importlib.util
import math
import os
import random
import shutil
import signal
import sys
import time
from bisect import bisect_left
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, List, NamedTuple, Set, Tuple
from urllib.parse import urlencode

import pytest
from _prometheus import PROMETHEUS, Process, answers, children, free_port, prometheus, query, request, value, wait
from pyrometer._native_histogram import pick_schema

GUNICORN = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or shutil.which("gunicorn")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(PROMETHEUS is None,
                       reason="prometheus absent (Debian package 'prometheus'; .ci/run installs it)"),
    pytest.mark.skipif(GUNICORN is None, reason="gunicorn absent (pip install 'pyrometer[gunicorn]')"),
]

HERE = Path(__file__).resolve().parent
WORKERS = 4
SCHEMA = pick_schema(1.1)  # the default bucket factor: schema 3
BASE = 2.0 ** (2.0 ** -SCHEMA)
CLASSIC_BOUNDS = (0.01, 0.1, 1.0, 10.0)  # native_app.JOB's classic buckets

_RNG = random.Random(20261124)
# Native buckets take negatives and zeros; the classic buckets count a negative in the first (le=0.01) bucket.
DATA: List[float] = ([_RNG.lognormvariate(-2.0, 1.0) for _ in range(1940)] + [0.0] * 30
                     + [-_RNG.lognormvariate(-3.0, 0.5) for _ in range(30)])
_RNG.shuffle(DATA)
QUEUES = ("even", "odd")  # task_seconds{queue}: by the parity of a value's index in DATA
HALF = len(DATA) // 2

# Prometheus 2.42's Accept header with native histograms on: protobuf preferred.
SCRAPE_ACCEPT = ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
                 "application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,"
                 "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def native_buckets(values: List[float]) -> Tuple[int, Dict[int, int], Dict[int, int]]:
    """(zero count, positive and negative bucket counts by index) at SCHEMA, computed independently of pyrometer."""
    zero = 0
    pos: Dict[int, int] = {}
    neg: Dict[int, int] = {}
    for v in values:
        if v == 0:
            zero += 1
            continue
        # Bucket i holds base**(i-1) < |v| <= base**i. log2 is exact enough here: the value of DATA closest to a
        # boundary is 1e-5 of a bucket width away from it, far beyond float rounding.
        i = math.ceil(math.log2(abs(v)) * 2 ** SCHEMA)
        side = pos if v > 0 else neg
        side[i] = side.get(i, 0) + 1
    return zero, pos, neg


def true_quantile(q: float) -> float:
    """The value Prometheus's rank ``q * count`` falls on: the ceil(q * n)-th smallest."""
    return sorted(DATA)[math.ceil(q * len(DATA)) - 1]


class App(NamedTuple):
    port: int
    master: int  # Gunicorn's master pid
    mpdir: Path  # PROMETHEUS_MULTIPROC_DIR


class Run(NamedTuple):
    prom: int  # Prometheus's port
    victim: int  # the worker killed between the halves
    count_after_fold: float  # histogram_count(job_seconds) in the first scrape after the fold
    pids: Set[int]  # the workers that answered an /observe


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """native_app under Gunicorn: 4 sync workers, multiprocess mode, the pyrometer_gunicorn hooks."""
    tmp = tmp_path_factory.mktemp("native-mp")
    conf = tmp / "gunicorn.conf.py"
    conf.write_text("from pyrometer_gunicorn import child_exit, on_starting  # noqa: F401\n")
    port, mpdir = free_port(), tmp / "metrics"  # on_starting creates mpdir
    args = [str(GUNICORN), "-c", str(conf), "-w", str(WORKERS), "-k", "sync", "-b", f"127.0.0.1:{port}",
            "--graceful-timeout", "5", "--pythonpath", str(HERE), "native_app:app"]
    server = Process(args, tmp / "gunicorn.log", dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(mpdir)))
    try:
        master = server.proc.pid
        wait(lambda: not server.alive() or (len(children(master)) == WORKERS and answers(port, "/metrics")),
             40, f"the app to answer with {WORKERS} workers", server.log)
        assert server.alive(), f"gunicorn exited:\n{server.log.read_text(errors='replace')[-3000:]}"
        yield App(port, master, mpdir)
    finally:
        server.stop()


def _send(app: App, items: List[Tuple[int, float]]) -> Set[int]:
    """Observe each (index, value) through /observe, 8 at a time; the pids of the workers that answered."""
    def one(item: Tuple[int, float]) -> int:
        i, v = item
        status, body = request(app.port, "GET", "/observe?" + urlencode({"v": repr(v), "queue": QUEUES[i % 2]}))
        assert status == 200, (status, body)
        return int(body)

    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(one, items))


def _scraped_after(prom: int, moment: float) -> None:
    """Wait for a successful scrape that started after ``moment`` (so it read the files as they are now)."""
    # `up`'s timestamp is its scrape's start, which Prometheus may move by up to 2 ms to align it: 10 ms margin.
    wait(lambda: (value(prom, 'timestamp(up{job="native-mp"})') or 0) > moment + 0.01
         and value(prom, 'up{job="native-mp"}') == 1, 20, "a successful scrape")


@pytest.fixture(scope="module")
def run(app: App, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Prometheus scraping the app; the first half sent, a worker killed and folded, the second half sent."""
    scrape = [{"job_name": "native-mp", "static_configs": [{"targets": [f"127.0.0.1:{app.port}"]}]}]
    with prometheus(tmp_path_factory.mktemp("prometheus-native-mp"), scrape,
                    flags=["--enable-feature=native-histograms"]) as prom:
        indexed = list(enumerate(DATA))
        pids = _send(app, indexed[:HALF])
        # A worker that wrote some of the first half: its counts survive only through the fold into merged.db.
        victim = min(pids & children(app.master))
        assert (app.mpdir / f"w-{victim}.values").exists()
        os.kill(victim, signal.SIGKILL)
        wait(lambda: victim not in children(app.master) and len(children(app.master)) == WORKERS, 20,
             "gunicorn to respawn the killed worker")
        wait(lambda: not (app.mpdir / f"w-{victim}.values").exists(), 20, "child_exit to fold the killed worker")
        _scraped_after(prom, time.time())
        count_after_fold = value(prom, "histogram_count(job_seconds)")
        assert count_after_fold is not None
        pids |= _send(app, indexed[HALF:])
        _scraped_after(prom, time.time())
        yield Run(prom, victim, count_after_fold, pids)


def test_traffic_was_spread_and_a_worker_folded(run: Run) -> None:
    """Several workers answered, the killed one among them, and the scrape after its fold still counted the half."""
    assert len(run.pids) >= 2 and run.victim in run.pids, run
    assert run.count_after_fold == HALF


def test_scraped_over_protobuf_as_a_native_histogram(run: Run) -> None:
    """Prometheus holds job_seconds as one native histogram sample: only a protobuf scrape can carry it."""
    (series,) = query(run.prom, "job_seconds")
    assert "histogram" in series and "value" not in series, series
    assert series["metric"] == {"__name__": "job_seconds", "instance": series["metric"]["instance"],
                                "job": "native-mp"}
    # Prometheus 2.42 ingests only the native part of a histogram that has both (no scrape_classic_histograms).
    assert query(run.prom, "job_seconds_count") == [] and query(run.prom, "job_seconds_bucket") == []


def test_count_and_sum_are_exact(run: Run) -> None:
    """histogram_count is the number of values sent over every worker, dead or alive; histogram_sum their sum."""
    assert value(run.prom, "histogram_count(job_seconds)") == len(DATA)
    total = value(run.prom, "histogram_sum(job_seconds)")
    assert total is not None and math.isclose(total, math.fsum(DATA), rel_tol=1e-9), (total, math.fsum(DATA))


@pytest.mark.parametrize("q", [0.5, 0.99])
def test_quantile_within_the_schema_error(run: Run, q: float) -> None:
    """histogram_quantile over the merged native buckets lies within base - 1 (9.05 %) of the true quantile."""
    estimate = value(run.prom, f"histogram_quantile({q}, job_seconds)")
    true = true_quantile(q)
    assert estimate is not None
    assert abs(estimate / true - 1) <= BASE - 1, (q, estimate, true)


def test_labelled_native_histogram_counts_per_queue(run: Run) -> None:
    """task_seconds{queue} counts exactly its values per label; summed over queues it is job_seconds exactly."""
    got = {s["metric"]["queue"]: float(s["value"][1])
           for s in query(run.prom, "histogram_count(task_seconds)")}
    assert got == {"even": float(len(DATA[0::2])), "odd": float(len(DATA[1::2]))}
    for q in (0.5, 0.99):
        assert value(run.prom, f"histogram_quantile({q}, sum(task_seconds))") \
            == value(run.prom, f"histogram_quantile({q}, job_seconds)")
    total = value(run.prom, "histogram_sum(sum(task_seconds))")
    assert total is not None and math.isclose(total, math.fsum(DATA), rel_tol=1e-9)


def _metrics_proto() -> ModuleType:
    """tests/core/native/_metrics_proto.py (protobuf classes for the exposition), loaded by path; skips without
    the protobuf package."""
    path = HERE.parent / "core" / "native" / "_metrics_proto.py"
    spec = importlib.util.spec_from_file_location("e2e_native_metrics_proto", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _unspan(spans: Any, deltas: Any) -> Dict[int, int]:
    """Absolute bucket counts by index from protobuf spans and deltas, empty buckets left out."""
    counts: Dict[int, int] = {}
    index, count, deltas = 0, 0, list(deltas)
    for span in spans:
        index += span.offset
        for _ in range(span.length):
            count += deltas.pop(0)
            if count:
                counts[index] = count
            index += 1
    assert not deltas
    return counts


def test_the_protobuf_scrape_carries_exact_native_and_classic_buckets(app: App, run: Run) -> None:
    """The app's merged protobuf scrape (as Prometheus asks for it) has every native bucket count exact and the
    classic buckets and _count of the same histogram at the same total."""
    proto = _metrics_proto()
    status, body = request(app.port, "GET", "/metrics", {"Accept": SCRAPE_ACCEPT})
    assert status == 200
    (family,) = [f for f in proto.decode(body) if f.name == "job_seconds"]
    (metric,) = family.metric
    h = metric.histogram
    assert (h.sample_count, h.schema, h.zero_threshold) == (len(DATA), SCHEMA, 2.0 ** -128)
    assert math.isclose(h.sample_sum, math.fsum(DATA), rel_tol=1e-9)
    zero, pos, neg = native_buckets(DATA)
    assert h.zero_count == zero
    assert _unspan(h.positive_span, h.positive_delta) == pos
    assert _unspan(h.negative_span, h.negative_delta) == neg
    bounds = [*CLASSIC_BOUNDS, math.inf]
    per_bucket = [0] * len(bounds)
    for v in DATA:
        per_bucket[bisect_left(bounds, v)] += 1  # negatives and zeros land in the first (le=0.01) bucket
    cumulative = [sum(per_bucket[:i + 1]) for i in range(len(bounds))]
    # As in the Go client, the +Inf bucket is left out of the protobuf: it is sample_count.
    assert [(b.upper_bound, b.cumulative_count) for b in h.bucket] == list(zip(CLASSIC_BOUNDS, cumulative[:-1]))
    assert cumulative[-1] == h.sample_count == len(DATA)


def test_prometheus_stores_the_exact_native_buckets(run: Run) -> None:
    """The buckets Prometheus returns for job_seconds are the expected ones, in order, with exact counts."""
    (series,) = query(run.prom, "job_seconds")
    _, histogram = series["histogram"]
    zero, pos, neg = native_buckets(DATA)
    # Boundary rules of the query API: 0 (lower, upper], 1 [lower, upper), 3 [lower, upper].
    expected = ([(1, -BASE ** i, -BASE ** (i - 1), n) for i, n in sorted(neg.items(), reverse=True)]
                + [(3, -2.0 ** -128, 2.0 ** -128, zero)]
                + [(0, BASE ** (i - 1), BASE ** i, n) for i, n in sorted(pos.items())])
    got = [(rule, float(lower), float(upper), int(count)) for rule, lower, upper, count in histogram["buckets"]]
    assert [(rule, n) for rule, _, _, n in got] == [(rule, n) for rule, _, _, n in expected]
    for (_, lower, upper, _), (_, want_lower, want_upper, _) in zip(got, expected):
        assert math.isclose(lower, want_lower, rel_tol=1e-12) and math.isclose(upper, want_upper, rel_tol=1e-12)
