"""GraphiteBridge: exact plaintext lines over TCP, and a background pusher that outlives a Graphite outage."""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from typing import Iterable, Iterator

import pytest
from pyrometer.bridge.graphite import GraphiteBridge
from pyrometer.metrics import Counter, Enum, Gauge, Histogram, Info, Summary
from pyrometer.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from pyrometer.registry import CollectorRegistry

NOW = 1434898897.5  # the bridge truncates to whole seconds: 1434898897


def _timer() -> float:
    return NOW


class _Sink:
    """A loopback TCP listener that queues everything each connection sent before closing."""

    def __init__(self, port: int = 0) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen()
        self._sock.settimeout(0.05)
        self.address = self._sock.getsockname()
        self.payloads: queue.Queue[bytes] = queue.Queue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(5)
                chunks = []
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
            self.payloads.put(b"".join(chunks))

    def next(self, timeout: float = 5.0) -> str:
        return self.payloads.get(timeout=timeout).decode()

    def close(self) -> None:
        self._closing.set()
        self._thread.join(5)
        self._sock.close()


@pytest.fixture
def sink() -> Iterator[_Sink]:
    s = _Sink()
    yield s
    s.close()


class _Fixed:
    """A collector returning prepared families, so sample values are fully known."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def _registry() -> CollectorRegistry:
    requests = CounterMetricFamily("pyr_requests", "Requests.", labels=["path", "code"])
    requests.add_metric(["/a.b c", "200"], 3)
    requests.add_metric(["ü", "500"], 1)
    temp = GaugeMetricFamily("pyr_temp", "Temperature.", labels=["room-name"])
    temp.add_metric(["k:1"], 21.5)
    registry = CollectorRegistry()
    registry.register(_Fixed([requests, temp, GaugeMetricFamily("pyr_up", "Up.", value=1)]))
    return registry


def test_plain_lines(sink: _Sink) -> None:
    """Plain mode writes name.label.value pairs sorted by label name, sanitised, with a whole-second stamp."""
    GraphiteBridge(sink.address, registry=_registry(), _timer=_timer).push()
    assert sink.next() == (
        "pyr_requests_total.code.200.path._a_b_c 3.0 1434898897\n"
        "pyr_requests_total.code.500.path._ 1.0 1434898897\n"
        "pyr_temp.room-name.k_1 21.5 1434898897\n"
        "pyr_up 1.0 1434898897\n"
    )


def test_prefixed_lines(sink: _Sink) -> None:
    """A prefix is put in front of every line followed by a dot, unsanitised."""
    GraphiteBridge(sink.address, registry=_registry(), _timer=_timer).push(prefix="app.web-1")
    lines = sink.next().splitlines()
    assert lines[0] == "app.web-1.pyr_requests_total.code.200.path._a_b_c 3.0 1434898897"
    assert lines[-1] == "app.web-1.pyr_up 1.0 1434898897"
    assert len(lines) == 4


def test_tagged_lines(sink: _Sink) -> None:
    """Tags mode writes name;label=value pairs with the same sanitising and order."""
    GraphiteBridge(sink.address, registry=_registry(), _timer=_timer, tags=True).push(prefix="p")
    assert sink.next() == (
        "p.pyr_requests_total;code=200;path=_a_b_c 3.0 1434898897\n"
        "p.pyr_requests_total;code=500;path=_ 1.0 1434898897\n"
        "p.pyr_temp;room-name=k_1 21.5 1434898897\n"
        "p.pyr_up 1.0 1434898897\n"
    )


def test_value_spelling(sink: _Sink) -> None:
    """Values are written as Python floats: integers get '.0', and inf, nan and exponents keep Python's spelling."""
    families = []
    for name, value in (("pyr_int", 7), ("pyr_inf", float("inf")), ("pyr_nan", float("nan")), ("pyr_big", 1e20)):
        families.append(GaugeMetricFamily(name, "v", value=value))
    registry = CollectorRegistry()
    registry.register(_Fixed(families))
    GraphiteBridge(sink.address, registry=registry, _timer=_timer).push()
    assert [line.split()[1] for line in sink.next().splitlines()] == ["7.0", "inf", "nan", "1e+20"]


@pytest.mark.parametrize("tags", [False, True])
def test_matches_prometheus_client_bytes(sink: _Sink, tags: bool) -> None:
    """For the same registry, timer and prefix the bytes sent equal prometheus_client 0.26's bridge."""
    ref = pytest.importorskip("prometheus_client.bridge.graphite")
    registry = CollectorRegistry()
    Counter("pyr_c", "c", ["a", "b.c"], registry=registry).labels("x/y", "ä b").inc(2)
    Gauge("pyr_g", "g", registry=registry).set(-0.25)
    Histogram("pyr_h", "h", ["m"], buckets=[0.1, 1], registry=registry).labels("GET").observe(0.5)
    Summary("pyr_s", "s", registry=registry).observe(3)
    Info("pyr_i", "i", registry=registry).info({"version": "1.2.3"})
    Enum("pyr_e", "e", states=["on", "off"], registry=registry).state("off")
    registry.register(_Fixed([GaugeMetricFamily("pyr_nan", "n", value=float("nan"))]))
    GraphiteBridge(sink.address, registry=registry, _timer=_timer, tags=tags).push(prefix="pre")
    ref.GraphiteBridge(sink.address, registry=registry, _timer=_timer, tags=tags).push(prefix="pre")
    ours, theirs = sink.next(), sink.next()
    assert ours == theirs and ours.count("\n") > 10


def test_push_to_closed_port_raises() -> None:
    """push() raises an OSError when nothing listens at the address."""
    closed = _Sink()
    closed.close()
    with pytest.raises(OSError):
        GraphiteBridge(closed.address, registry=_registry(), timeout_seconds=2).push()


def test_start_pushes_at_once_and_stops(sink: _Sink) -> None:
    """start() pushes immediately from a daemon thread, and stop() ends that thread promptly."""
    bridge = GraphiteBridge(sink.address, registry=_registry(), _timer=_timer)
    bridge.start(interval=30)
    try:
        assert sink.next().endswith("pyr_up 1.0 1434898897\n")
    finally:
        bridge.stop()
    assert not any(t.name == "pyrometer-graphite" and t.is_alive() for t in threading.enumerate())


def test_start_survives_outage(caplog: pytest.LogCaptureFixture) -> None:
    """A push that fails while Graphite is down is logged, and a later interval delivers once it is back."""
    caplog.set_level(logging.ERROR, logger="pyrometer.bridge.graphite")
    down = _Sink()
    down.close()
    bridge = GraphiteBridge(down.address, registry=_registry(), _timer=_timer, timeout_seconds=1)
    bridge.start(interval=0.1, prefix="p")
    try:
        deadline = time.monotonic() + 5
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.01)
        assert caplog.records, "the failed push was not logged"
        assert "failed" in caplog.records[0].getMessage()
        back = _Sink(down.address[1])
        try:
            assert back.next().startswith("p.pyr_requests_total.code.200")
            assert back.next().endswith("p.pyr_up 1.0 1434898897\n")
        finally:
            bridge.stop()
            back.close()
    finally:
        bridge.stop()


def test_interval_must_be_positive() -> None:
    """start() refuses a zero or negative interval instead of spinning."""
    with pytest.raises(ValueError, match="interval"):
        GraphiteBridge(("127.0.0.1", 1), registry=_registry()).start(interval=0)
