"""A real Prometheus 2.42 (native histograms on) scrapes a pyrometer exporter over protobuf.

The exporter (``start_http_server`` in this process) holds a native-only histogram and a counter with an
exemplar. Prometheus scrapes the empty histogram first, then 1000 observations from a fixed-seed distribution;
the checks go through the HTTP query API.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any, Dict, Iterator, List

import pytest
from _prometheus import PROMETHEUS, api, prometheus, query, value, wait
from pyrometer import CollectorRegistry, Counter, Gauge, Histogram, Info, Summary, start_http_server
from pyrometer._native_histogram import pick_schema

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(PROMETHEUS is None,
                       reason="prometheus absent (Debian package 'prometheus'; .ci/run installs it)"),
]

NAME = "e2e_native_latency_seconds"
COUNTER = "e2e_native_jobs"
SCHEMA = pick_schema(1.1)  # the default bucket factor
RNG = random.Random(20261124)
DATA = [RNG.lognormvariate(-2.0, 1.0) for _ in range(1000)]


class Exporter:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.histogram = Histogram(NAME, "Latency.", registry=self.registry, native=True)
        self.counter = Counter(COUNTER, "Jobs.", registry=self.registry)
        # Families of every other type, to check their protobuf encoding as Prometheus reads it.
        # With a unit: the MetricFamily.unit field, unknown to Prometheus 2.42, must be skipped by it.
        Gauge("e2e_pb_temperature", "Temp.", ["room"], registry=self.registry, unit="celsius").labels("a").set(21.5)
        Counter("e2e_pb_unused", "No children: no family.", ["path"], registry=self.registry)
        summary = Summary("e2e_pb_size_bytes", "Size.", registry=self.registry)
        classic = Histogram("e2e_pb_classic_seconds", "Classic.", registry=self.registry, buckets=[0.5, 1])
        for v in (0.3, 0.7, 2.0):
            summary.observe(v)
            classic.observe(v)
        Info("e2e_pb_build", "Build.", registry=self.registry).info({"version": "1.2.3"})
        self.server, self.thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.port = self.server.server_address[1]


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    e = Exporter()
    try:
        yield e
    finally:
        e.server.shutdown()
        e.server.server_close()
        e.thread.join(5)


@pytest.fixture(scope="module")
def prom(exporter: Exporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Prometheus scraping the exporter every second with native histograms and exemplar storage on; its port."""
    scrape = [{"job_name": "native", "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"]}]}]
    with prometheus(tmp_path_factory.mktemp("prometheus-native"), scrape,
                    flags=["--enable-feature=native-histograms,exemplar-storage"]) as port:
        yield port


@pytest.fixture(scope="module")
def scraped(exporter: Exporter, prom: int) -> int:
    """The empty histogram scraped, then all of DATA (and one counter increment with an exemplar) scraped."""
    wait(lambda: value(prom, f"histogram_count({NAME})") == 0, 20, "a scrape of the empty native histogram")
    for v in DATA:
        exporter.histogram.observe(v)
    exporter.counter.inc(1, {"trace_id": "native-e2e"})
    wait(lambda: value(prom, f"histogram_count({NAME})") == len(DATA), 20, "a scrape of all observations")
    return prom


def test_scraped_as_a_native_histogram(scraped: int) -> None:
    """The series is one native histogram sample (no classic _bucket series were made)."""
    (series,) = query(scraped, NAME)
    assert "histogram" in series and series["metric"] == {"__name__": NAME, "instance": series["metric"]["instance"],
                                                           "job": "native"}
    assert query(scraped, f"{NAME}_bucket") == [] and query(scraped, f"{NAME}_count") == []


def test_count_and_sum_are_exact(scraped: int) -> None:
    """histogram_count is the number of observations; histogram_sum their sum (to float rounding)."""
    assert value(scraped, f"histogram_count({NAME})") == 1000.0
    total = value(scraped, f"histogram_sum({NAME})")
    assert total is not None and math.isclose(total, sum(DATA), rel_tol=1e-12)


def test_quantile_of_the_rate_within_the_schema_error(scraped: int) -> None:
    """histogram_quantile(0.9, rate(x[1m])) lands in the bucket of the true 0.9-quantile: within base - 1."""
    estimate = value(scraped, f"histogram_quantile(0.9, rate({NAME}[1m]))")
    true = sorted(DATA)[899]  # the 900th of 1000: the value with 90 % at or below it
    base = 2.0 ** (2.0 ** -SCHEMA)
    assert estimate is not None and abs(estimate / true - 1) <= base - 1, (estimate, true)


def test_counter_exemplar_is_queryable(scraped: int) -> None:
    """Prometheus 2.42 stores counter exemplars scraped over protobuf; query_exemplars returns them."""
    now = time.time()

    def found() -> List[Dict[str, Any]]:
        data = api(scraped, "query_exemplars", query=f"{COUNTER}_total", start=str(now - 300), end=str(now + 60))
        return [e for series in data for e in series["exemplars"]]

    wait(lambda: bool(found()), 10, "the counter's exemplar")
    assert [(e["labels"], float(e["value"])) for e in found()] == [({"trace_id": "native-e2e"}, 1.0)]


@pytest.mark.parametrize(("promql", "expected"), [
    ('e2e_pb_temperature_celsius{room="a"}', 21.5),
    ("e2e_pb_size_bytes_count", 3.0),
    ("e2e_pb_size_bytes_sum", 3.0),
    ('e2e_pb_classic_seconds_bucket{le="0.5"}', 1.0),
    ('e2e_pb_classic_seconds_bucket{le="1.0"}', 2.0),
    ('e2e_pb_classic_seconds_bucket{le="+Inf"}', 3.0),
    ("e2e_pb_classic_seconds_count", 3.0),
    ('e2e_pb_build_info{version="1.2.3"}', 1.0),
    (f"{COUNTER}_total", 1.0),
])
def test_other_families_scraped_over_protobuf(scraped: int, promql: str, expected: float) -> None:
    """Gauges, summaries, classic histograms, info and counters keep their values through the protobuf scrape."""
    assert value(scraped, promql) == expected
