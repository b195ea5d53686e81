"""The HTTP engine's label-set cap: on by default, configurable, off with None, through a real integration."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List

import pytest
from pyrometer import CollectorRegistry, generate_latest
from pyrometer.http import HttpMetrics
from pyrometer.http._engine import DEFAULT_MAX_LABEL_SETS
from pyrometer_wsgi import MetricsMiddleware
from werkzeug.test import Client


def _lines(registry: CollectorRegistry, prefix: str) -> List[str]:
    return [line for line in generate_latest(registry).decode().splitlines() if line.startswith(prefix)]


def _request(engine: HttpMetrics, handler: str, status: int = 200, request: Any = None) -> None:
    timer = engine.start("GET", handler, handler, request=request)
    assert timer is not None
    timer.finish(status)


def test_on_by_default() -> None:
    """Every metric of the engine is capped at DEFAULT_MAX_LABEL_SETS label sets unless told otherwise."""
    assert DEFAULT_MAX_LABEL_SETS == 10_000
    engine = HttpMetrics(registry=CollectorRegistry(), metrics=["requests", "duration", "in_progress",
                                                                 "exceptions", "request_size", "response_size",
                                                                 "ttfb"])
    metrics = [m for kind in ("requests", "duration", "in_progress", "exceptions", "request_size",
                              "response_size", "ttfb") for m in engine.metric(kind)]
    assert len(metrics) == 7
    assert {m._max_label_sets for m in metrics} == {DEFAULT_MAX_LABEL_SETS}


def test_handler_scan_hits_the_limit() -> None:
    """An adapter reporting raw paths cannot grow the series past the cap: the rest go to the overflow series."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, max_label_sets=3)
    for i in range(20):
        _request(engine, f"/users/{i}")
    assert _lines(registry, "http_requests_total") == [
        'http_requests_total{handler="/users/0",method="GET",status="200"} 1.0',
        'http_requests_total{handler="/users/1",method="GET",status="200"} 1.0',
        'http_requests_total{handler="/users/2",method="GET",status="200"} 1.0',
        'http_requests_total{handler="_OTHER",method="_OTHER",status="_OTHER"} 17.0',
    ]
    assert _lines(registry, "http_request_duration_seconds_count") == [
        'http_request_duration_seconds_count{handler="/users/0",method="GET"} 1.0',
        'http_request_duration_seconds_count{handler="/users/1",method="GET"} 1.0',
        'http_request_duration_seconds_count{handler="/users/2",method="GET"} 1.0',
        'http_request_duration_seconds_count{handler="_OTHER",method="_OTHER"} 17.0',
    ]
    # The in-progress gauge went up and down on the same (overflow) child.
    assert _lines(registry, "http_requests_in_progress") == [
        'http_requests_in_progress{handler="/users/0",method="GET"} 0.0',
        'http_requests_in_progress{handler="/users/1",method="GET"} 0.0',
        'http_requests_in_progress{handler="/users/2",method="GET"} 0.0',
        'http_requests_in_progress{handler="_OTHER",method="_OTHER"} 0.0',
    ]
    assert _lines(registry, "pyrometer_cardinality_overflow_total") == [
        # In the order they first overflowed: a request is in progress before it is counted.
        'pyrometer_cardinality_overflow_total{metric="http_requests_in_progress"} 17.0',
        'pyrometer_cardinality_overflow_total{metric="http_requests"} 17.0',
        'pyrometer_cardinality_overflow_total{metric="http_request_duration_seconds"} 17.0',
    ]
    # The engine's own cache of resolved label sets stops at the cap too.
    assert len(engine._label_sets) == len(engine._in_progress) == 3


def test_extra_label_scan_hits_the_limit() -> None:
    """Many distinct values of an extra label (a wide extra_label_limit) fold into the overflow series."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, extra_labels={"tenant": lambda request: request},
                         extra_label_limit=1000, max_label_sets=2, metrics=["requests"])
    for i in range(50):
        _request(engine, "/items", request=f"t{i}")
    _request(engine, "/items", request="t0")
    assert _lines(registry, "http_requests_total") == [
        'http_requests_total{handler="/items",method="GET",status="200",tenant="t0"} 2.0',
        'http_requests_total{handler="/items",method="GET",status="200",tenant="t1"} 1.0',
        'http_requests_total{handler="_OTHER",method="_OTHER",status="_OTHER",tenant="_OTHER"} 48.0',
    ]


def test_exceptions_are_capped() -> None:
    """Exception series share the cap: new exception label sets past it are counted in the overflow series."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, max_label_sets=1, metrics=["exceptions"])
    for exc in (KeyError(), ValueError(), OSError()):
        timer = engine.start("GET", "/x", "/x")
        assert timer is not None
        timer.finish(500, exception=exc)
    assert _lines(registry, "http_exceptions_total") == [
        'http_exceptions_total{exception="KeyError",handler="/x",method="GET"} 1.0',
        'http_exceptions_total{exception="_OTHER",handler="_OTHER",method="_OTHER"} 2.0',
    ]


def test_none_turns_the_engine_cap_off() -> None:
    """``max_label_sets=None`` keeps every label set (the registry has no default of its own)."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, max_label_sets=None, metrics=["requests"])
    for i in range(30):
        _request(engine, f"/p{i}")
    assert len(_lines(registry, "http_requests_total")) == 30
    assert _lines(registry, "pyrometer_cardinality_overflow_total") == []
    assert len(engine._label_sets) == 30


def test_none_defers_to_the_registry_default() -> None:
    """With the engine cap off, the registry's ``default_max_label_sets`` still applies."""
    registry = CollectorRegistry(default_max_label_sets=2)
    engine = HttpMetrics(registry=registry, max_label_sets=None, metrics=["requests"])
    for i in range(5):
        _request(engine, f"/p{i}")
    assert _lines(registry, "http_requests_total{handler=\"_OTHER\"") == [
        'http_requests_total{handler="_OTHER",method="_OTHER",status="_OTHER"} 3.0']


@pytest.mark.parametrize(("value", "error", "message"), [
    (0, ValueError, "max_label_sets must be at least 1, got 0"),
    ("100", TypeError, "max_label_sets must be an int or None, not str"),
])
def test_bad_limit(value: Any, error: type, message: str) -> None:
    """A bad cap fails when the engine is built."""
    with pytest.raises(error) as exc:
        HttpMetrics(registry=CollectorRegistry(), max_label_sets=value)
    assert str(exc.value) == message


def test_through_the_wsgi_middleware(no_created: None) -> None:
    """The option reaches the engine from an integration's keyword arguments, with no per-framework code."""
    def app(environ: Dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no"]

    registry = CollectorRegistry()
    client = Client(MetricsMiddleware(app, registry=registry, handler=lambda environ: environ["PATH_INFO"],
                                      max_label_sets=2, metrics=("requests",)))
    for i in range(6):
        assert client.get(f"/scan/{i}").status_code == 404
    assert client.get("/metrics").get_data() == (
        b"# HELP http_requests_total HTTP requests handled.\n"
        b"# TYPE http_requests_total counter\n"
        b'http_requests_total{handler="/scan/0",method="GET",status="404"} 1.0\n'
        b'http_requests_total{handler="/scan/1",method="GET",status="404"} 1.0\n'
        b'http_requests_total{handler="_OTHER",method="_OTHER",status="_OTHER"} 4.0\n'
        b"# HELP pyrometer_cardinality_overflow_total Lookups of new label sets sent to the overflow series "
        b"because the metric reached its label-set limit.\n"
        b"# TYPE pyrometer_cardinality_overflow_total counter\n"
        b'pyrometer_cardinality_overflow_total{metric="http_requests"} 4.0\n'
    )
