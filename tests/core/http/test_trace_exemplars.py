"""Exemplars from OpenTelemetry traces: the engine links request counts and durations to the current span."""

from __future__ import annotations

import logging
import sys
from types import SimpleNamespace
from typing import Any, Dict, Iterable, Iterator, List, Optional

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from pyrometer.http import HttpMetrics, _engine, _exemplars
from pyrometer.registry import CollectorRegistry
from pyrometer_wsgi import MetricsMiddleware
from werkzeug.test import Client

OPENMETRICS = {"Accept": "application/openmetrics-text; version=1.0.0"}


@pytest.fixture
def perf(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The engine's clock, moved by the app: every request takes exactly ``perf.step`` seconds."""
    fake = SimpleNamespace(now=100.0, step=0.25)
    monkeypatch.setattr(_engine, "perf_counter", lambda: fake.now)
    return fake


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Any:
    """A tracer of a private SDK provider (the global provider stays untouched) exporting to memory."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("tests")


def _client(perf: SimpleNamespace, registry: CollectorRegistry, **options: Any) -> Client:
    def app(environ: Dict[str, Any], start_response: Any) -> Iterable[bytes]:
        perf.now += perf.step
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    middleware = MetricsMiddleware(app, registry=registry, handler=lambda environ: environ["PATH_INFO"],
                                   metrics=("requests", "duration"), buckets=(0.1, 0.5), **options)
    return Client(middleware)


def _scrape(client: Client) -> List[str]:
    return client.get("/metrics", headers=OPENMETRICS).get_data(as_text=True).splitlines()


def _ids(span: Any) -> str:
    ctx = span.get_span_context()
    return f'span_id="{format(ctx.span_id, "016x")}",trace_id="{format(ctx.trace_id, "032x")}"'


def test_sampled_span_gives_exact_exemplars(perf: SimpleNamespace, tracer: Any, exporter: InMemorySpanExporter,
                                            clock: SimpleNamespace, no_created: None) -> None:
    """A request served inside a sampled span puts the span's ids on the counter and the duration bucket."""
    registry = CollectorRegistry()
    client = _client(perf, registry)
    with tracer.start_as_current_span("GET /hello") as span:
        assert client.get("/hello").get_data() == b"hello"
    ids = _ids(span)
    finished = exporter.get_finished_spans()
    assert [s.name for s in finished] == ["GET /hello"]
    assert f"{finished[0].context.trace_id:032x}" in ids and f"{finished[0].context.span_id:016x}" in ids
    assert client.get("/metrics", headers=OPENMETRICS).get_data() == (
        "# HELP http_requests HTTP requests handled.\n"
        "# TYPE http_requests counter\n"
        f'http_requests_total{{handler="/hello",method="GET",status="200"}} 1.0 # {{{ids}}} 1.0 1000.0\n'
        "# HELP http_request_duration_seconds Time from request start to the last byte of the response.\n"
        "# TYPE http_request_duration_seconds histogram\n"
        'http_request_duration_seconds_bucket{handler="/hello",le="0.1",method="GET"} 0.0\n'
        f'http_request_duration_seconds_bucket{{handler="/hello",le="0.5",method="GET"}} 1.0 # {{{ids}}} 0.25 1000.0\n'
        'http_request_duration_seconds_bucket{handler="/hello",le="+Inf",method="GET"} 1.0\n'
        'http_request_duration_seconds_count{handler="/hello",method="GET"} 1.0\n'
        'http_request_duration_seconds_sum{handler="/hello",method="GET"} 0.25\n'
        "# EOF\n"
    ).encode()


def test_no_span_gives_no_exemplar(perf: SimpleNamespace) -> None:
    """Without an active span the series carry no exemplar."""
    registry = CollectorRegistry()
    client = _client(perf, registry)
    client.get("/hello").get_data()
    lines = _scrape(client)
    assert 'http_requests_total{handler="/hello",method="GET",status="200"} 1.0' in lines
    assert [line for line in lines if " # {" in line] == []


def test_unsampled_span_gives_no_exemplar(perf: SimpleNamespace) -> None:
    """A valid but unsampled span (its trace is not kept) is not linked."""
    tracer = TracerProvider(sampler=ALWAYS_OFF).get_tracer("tests")
    registry = CollectorRegistry()
    client = _client(perf, registry)
    with tracer.start_as_current_span("unsampled") as span:
        assert span.get_span_context().is_valid
        client.get("/hello").get_data()
    lines = _scrape(client)
    assert 'http_requests_total{handler="/hello",method="GET",status="200"} 1.0' in lines
    assert [line for line in lines if " # {" in line] == []


def test_exemplars_off(perf: SimpleNamespace, tracer: Any) -> None:
    """``exemplars="off"`` never looks at the span."""
    registry = CollectorRegistry()
    client = _client(perf, registry, exemplars="off")
    with tracer.start_as_current_span("traced"):
        client.get("/hello").get_data()
    lines = _scrape(client)
    assert 'http_requests_total{handler="/hello",method="GET",status="200"} 1.0' in lines
    assert [line for line in lines if " # {" in line] == []


def test_exemplar_interval_spares_the_lookup(perf: SimpleNamespace, tracer: Any) -> None:
    """Within ``exemplar_interval`` of its last exemplar a label set keeps it; after, the next span replaces it."""
    registry = CollectorRegistry()
    client = _client(perf, registry, exemplar_interval=1.0)

    def counter_line() -> str:
        return next(line for line in _scrape(client) if line.startswith("http_requests_total"))

    spans = []
    for _ in range(3):  # requests end at 100.25, 100.5 and 100.75: only the first is linked
        with tracer.start_as_current_span("r") as span:
            client.get("/hello").get_data()
        spans.append(span)
    assert counter_line().startswith(
        'http_requests_total{handler="/hello",method="GET",status="200"} 3.0 # {' + _ids(spans[0]) + "} 1.0 ")
    perf.now += 1.0  # the fourth ends at 102.0, past 100.25 + 1
    with tracer.start_as_current_span("r") as last:
        client.get("/hello").get_data()
    assert counter_line().startswith(
        'http_requests_total{handler="/hello",method="GET",status="200"} 4.0 # {' + _ids(last) + "} 1.0 ")


def test_callable_source(perf: SimpleNamespace) -> None:
    """A function of the user's supplies the exemplar labels, for tracers other than OpenTelemetry."""
    current: List[Optional[Dict[str, str]]] = [{"trace_id": "abc123"}]
    registry = CollectorRegistry()
    client = _client(perf, registry, exemplars=lambda: current[0])
    client.get("/hello").get_data()
    current[0] = None
    client.get("/other").get_data()
    lines = _scrape(client)
    assert [line.split(" # ")[1].split("}")[0] + "}" for line in lines if " # {" in line] == [
        '{trace_id="abc123"}', '{trace_id="abc123"}']
    assert 'http_requests_total{handler="/other",method="GET",status="200"} 1.0' in lines


def test_broken_source_never_breaks_requests(perf: SimpleNamespace, caplog: pytest.LogCaptureFixture) -> None:
    """A source that raises or returns invalid labels gives no exemplar and one warning; requests still count."""
    def broken() -> Dict[str, str]:
        raise RuntimeError("tracer down")

    registry = CollectorRegistry()
    client = _client(perf, registry, exemplars=broken)
    with caplog.at_level(logging.WARNING, logger="pyrometer.http"):
        for _ in range(3):
            assert client.get("/hello").status_code == 200
    assert [r.getMessage().split(" failed")[1] for r in caplog.records] == [
        "; requests are recorded without exemplars"]
    lines = _scrape(client)
    assert 'http_requests_total{handler="/hello",method="GET",status="200"} 3.0' in lines

    for bad in ({"trace_id": "x" * 200}, {"__trace": "1"}, {"trace_id": 7}):
        registry = CollectorRegistry()
        client = _client(perf, registry, exemplars=lambda bad=bad: bad)
        client.get("/hello").get_data()
        lines = _scrape(client)
        assert 'http_requests_total{handler="/hello",method="GET",status="200"} 1.0' in lines


@pytest.fixture
def fresh_otel_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Forget the once-per-process OpenTelemetry import for this test (restored afterwards)."""
    monkeypatch.setattr(_exemplars, "_otel_loaded", False)
    monkeypatch.setattr(_exemplars, "_otel", None)
    yield


def test_absent_opentelemetry_turns_auto_off(fresh_otel_state: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """When ``opentelemetry`` cannot be imported ``auto`` attaches nothing, and the import is not retried."""
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)  # import now raises ImportError
    engine = HttpMetrics(registry=CollectorRegistry())
    assert engine._exemplar_source is None
    monkeypatch.delitem(sys.modules, "opentelemetry.trace")
    assert HttpMetrics(registry=CollectorRegistry())._exemplar_source is None


def test_opentelemetry_imported_once(fresh_otel_state: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The current-span lookup is built on first use and shared by every engine afterwards."""
    first = HttpMetrics(registry=CollectorRegistry())._exemplar_source
    assert first is not None
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    assert HttpMetrics(registry=CollectorRegistry())._exemplar_source is first


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"exemplars": "sometimes"}, ValueError,
     "exemplars must be 'auto', 'off' or a function returning exemplar labels, not 'sometimes'"),
    ({"exemplar_interval": -1}, ValueError, "exemplar_interval must be at least 0, got -1"),
    ({"exemplar_interval": float("nan")}, ValueError, "exemplar_interval must be at least 0, got nan"),
    ({"exemplar_interval": "1"}, TypeError, "exemplar_interval must be a number of seconds, not str"),
])
def test_bad_options(options: Dict[str, Any], error: type, message: str) -> None:
    """Bad exemplar options fail when the engine is built."""
    with pytest.raises(error) as exc:
        HttpMetrics(registry=CollectorRegistry(), **options)
    assert str(exc.value) == message


def test_span_of_a_tracing_middleware_inside_ours_is_found_at_routing(tracer: Any, clock: SimpleNamespace,
                                                                      no_created: None) -> None:
    """FlaskInstrumentor wraps ``wsgi_app`` first and FlaskMetrics outside it: the span is over at finish.

    The engine takes the trace when Flask routes the request (inside the span), so the
    exemplar still links the request to its trace.
    """
    flask = pytest.importorskip("flask")
    from pyrometer_flask import FlaskMetrics

    app = flask.Flask(__name__)

    @app.route("/orders/<int:order_id>")
    def order(order_id: int) -> str:
        return "ok"

    spans: List[Any] = []
    inner = app.wsgi_app

    def traced(environ: Dict[str, Any], start_response: Any) -> Iterable[bytes]:
        # What a tracing WSGI middleware does: the span covers the app's call and ends before the server's close().
        with tracer.start_as_current_span("GET /orders/<int:order_id>") as span:
            spans.append(span)
            return list(inner(environ, start_response))

    app.wsgi_app = traced  # type: ignore[method-assign]
    registry = CollectorRegistry()
    FlaskMetrics(app, registry=registry, metrics=("requests",))
    client = app.test_client()
    assert client.get("/orders/7").status_code == 200
    body = client.get("/metrics", headers=OPENMETRICS).get_data(as_text=True)
    assert (f'http_requests_total{{handler="/orders/<int:order_id>",method="GET",status="200"}} 1.0 '
            f"# {{{_ids(spans[0])}}} 1.0 1000.0") in body.splitlines()
