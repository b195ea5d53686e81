"""The shared request-instrumentation engine: schema, options, presets and the request lifecycle."""

from __future__ import annotations

import threading

import pytest
from pyrometer import CollectorRegistry, generate_latest
from pyrometer.http import PRESETS, HttpMetrics, normalize_method


def _lines(registry: CollectorRegistry) -> list:
    """The exposition without comments and without ``_created`` series (their values are timestamps)."""
    return [line for line in generate_latest(registry).decode().splitlines()
            if line and not line.startswith("#") and "_created{" not in line and "_created " not in line]


def _request(engine: HttpMetrics, method: str, path: str, handler, status: int, **finish) -> None:
    timer = engine.start(method, path, handler)
    if timer is not None:
        timer.finish(status, **finish)


def _names(registry: CollectorRegistry) -> dict:
    """``{family name: (type, sorted label names of its first sample)}`` for what the registry exports."""
    out = {}
    for family in registry.collect():
        labels = sorted(family.samples[0].labels) if family.samples else []
        out[family.name] = (family.type, sorted(set(labels) - {"le", "quantile"}))
    return out


def test_method_normalisation():
    """Standard methods pass, lower-case standard methods are upper-cased, anything else becomes _OTHER."""
    assert normalize_method("GET") == "GET"
    assert normalize_method("patch") == "PATCH"
    assert normalize_method("PROPFIND") == "_OTHER"
    assert normalize_method("") == "_OTHER"
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry)
    _request(engine, "get", "/a", "/a", 200)
    _request(engine, "BREW", "/a", "/a", 200)
    _request(engine, "X" * 1000, "/a", "/a", 200)
    assert registry.get_sample_value("http_requests_total", {"method": "GET", "handler": "/a", "status": "200"}) == 1
    assert registry.get_sample_value(
        "http_requests_total", {"method": "_OTHER", "handler": "/a", "status": "200"}) == 2


def test_unmatched_requests_share_handler_none():
    """Requests that match no route (handler None or empty) all land in one handler="none" series."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry)
    for i in range(20):
        _request(engine, "GET", f"/random/{i}", None, 404)
    _request(engine, "GET", "/x", "", 404)
    timer = engine.start("GET", "/late")
    timer.set_handler(None)
    timer.finish(404)
    assert _lines(registry)[0:1] == ['http_requests_total{handler="none",method="GET",status="404"} 22.0']
    assert registry.get_sample_value("http_request_duration_seconds_count", {"method": "GET", "handler": "none"}) == 22


def test_excluded_paths_full_match():
    """An excluded pattern must match the whole path; excluded requests return no timer and record nothing."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, excluded_paths=["/health", "/static/.*"])
    assert engine.start("GET", "/health") is None
    assert engine.start("GET", "/static/app.js") is None
    assert engine.excluded("/static/a/b.css")
    assert not engine.excluded("/healthz")
    assert not engine.excluded("/api/health")
    _request(engine, "GET", "/healthz", "/healthz", 200)
    _request(engine, "GET", "/health", "/health", 200)
    assert registry.get_sample_value("http_requests_total", {"method": "GET", "handler": "/health", "status": "200"}) \
        is None
    assert registry.get_sample_value(
        "http_requests_total", {"method": "GET", "handler": "/healthz", "status": "200"}) == 1


def test_excluded_paths_with_inline_flags():
    """Each pattern is compiled on its own, so inline flags like (?i) work and a bad pattern fails at setup."""
    engine = HttpMetrics(registry=CollectorRegistry(), excluded_paths=["(?i)/HEALTH", "/metrics"])
    assert engine.excluded("/health")
    assert engine.excluded("/metrics")
    with pytest.raises(ValueError, match="excluded path"):
        HttpMetrics(registry=CollectorRegistry(), excluded_paths=["/a("])
    assert HttpMetrics(registry=CollectorRegistry(), excluded_paths="/ping").excluded("/ping")


def test_single_string_options_are_one_item():
    """metrics="requests" means that one kind, not its letters."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, metrics="requests")
    assert [m._name for m in engine.metric("requests")] == ["http_requests"]
    assert engine.metric("duration") == []


def test_group_status():
    """group_status reports 2xx/4xx/5xx instead of the exact code."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, group_status=True)
    for status in (200, 201, 204, 404, 418, 503):
        _request(engine, "GET", "/a", "/a", status)
    assert _lines(registry)[:3] == [
        'http_requests_total{handler="/a",method="GET",status="2xx"} 3.0',
        'http_requests_total{handler="/a",method="GET",status="4xx"} 2.0',
        'http_requests_total{handler="/a",method="GET",status="5xx"} 1.0',
    ]


def test_duration_status():
    """duration_status adds the status label to the duration histogram."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, duration_status=True, buckets=[1.0])
    _request(engine, "GET", "/a", "/a", 200)
    _request(engine, "GET", "/a", "/a", 500)
    assert 'http_request_duration_seconds_count{handler="/a",method="GET",status="500"} 1.0' in _lines(registry)
    assert registry.get_sample_value(
        "http_request_duration_seconds_bucket", {"method": "GET", "handler": "/a", "status": "200", "le": "1.0"}) == 1
    plain = CollectorRegistry()
    _request(HttpMetrics(registry=plain), "GET", "/a", "/a", 200)
    assert plain.get_sample_value("http_request_duration_seconds_count", {"method": "GET", "handler": "/a"}) == 1


def test_default_metric_selection_and_opt_in():
    """The default preset exports requests, duration, in-progress and exceptions; sizes and ttfb are opt-in."""
    r = CollectorRegistry()
    engine = HttpMetrics(registry=r)
    _request(engine, "GET", "/a", "/a", 200, request_size=10, response_size=2000)
    assert sorted(_names(r)) == ["http_exceptions", "http_request_duration_seconds", "http_requests",
                                 "http_requests_in_progress"]
    assert [m._name for m in engine.metric("duration")] == ["http_request_duration_seconds"]
    assert engine.metric("request_size") == []

    r2 = CollectorRegistry()
    engine = HttpMetrics(registry=r2, metrics=["requests", "request_size", "response_size", "ttfb"])
    timer = engine.start("POST", "/up", "/up")
    timer.first_byte()
    timer.finish(201, request_size=10, response_size=2000)
    assert sorted(_names(r2)) == ["http_request_size_bytes", "http_requests", "http_response_size_bytes",
                                  "http_time_to_first_byte_seconds"]
    labels = {"method": "POST", "handler": "/up"}
    assert r2.get_sample_value("http_request_size_bytes_bucket", {**labels, "le": "100.0"}) == 1
    assert r2.get_sample_value("http_response_size_bytes_bucket", {**labels, "le": "1000.0"}) == 0
    assert r2.get_sample_value("http_response_size_bytes_sum", labels) == 2000
    assert r2.get_sample_value("http_time_to_first_byte_seconds_count", labels) == 1
    assert r2.get_sample_value("http_request_duration_seconds_count", labels) is None


def test_sizes_not_observed_when_unknown():
    """A request without a known body size leaves the size histograms untouched."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, metrics=["request_size", "response_size", "ttfb"])
    _request(engine, "GET", "/a", "/a", 200)
    for name in ("http_request_size_bytes", "http_response_size_bytes", "http_time_to_first_byte_seconds"):
        assert registry.get_sample_value(f"{name}_count", {"method": "GET", "handler": "/a"}) == 0


def test_const_labels_and_namespace():
    """Constant labels appear on every series; the namespace prefixes every name."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, namespace="shop", const_labels={"service": "api", "region": "eu"},
                         buckets=[0.5])
    timer = engine.start("GET", "/a", "/a")
    timer.finish(500, exception=KeyError("k"))
    assert _lines(registry) == [
        'shop_http_requests_total{handler="/a",method="GET",region="eu",service="api",status="500"} 1.0',
        'shop_http_request_duration_seconds_bucket{handler="/a",le="0.5",method="GET",region="eu",service="api"} 1.0',
        'shop_http_request_duration_seconds_bucket{handler="/a",le="+Inf",method="GET",region="eu",service="api"} 1.0',
        'shop_http_request_duration_seconds_count{handler="/a",method="GET",region="eu",service="api"} 1.0',
        _lines(registry)[4],  # the _sum: a measured time
        'shop_http_requests_in_progress{handler="/a",method="GET",region="eu",service="api"} 0.0',
        'shop_http_exceptions_total{exception="KeyError",handler="/a",method="GET",region="eu",service="api"} 1.0',
    ]
    assert _lines(registry)[4].startswith('shop_http_request_duration_seconds_sum{handler="/a",method="GET",')


def test_extra_labels_bounded():
    """Extra labels come from the request; past the limit new values fold into _OTHER, known ones still count."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, metrics=["requests"], extra_labels={"tenant": lambda req: req["tenant"]},
                         extra_label_limit=2)
    for tenant in ("a", "b", "c", "d", "a"):
        timer = engine.start("GET", "/a", "/a", request={"tenant": tenant})
        timer.finish(200)
    assert _lines(registry) == [
        'http_requests_total{handler="/a",method="GET",status="200",tenant="a"} 2.0',
        'http_requests_total{handler="/a",method="GET",status="200",tenant="b"} 1.0',
        'http_requests_total{handler="/a",method="GET",status="200",tenant="_OTHER"} 2.0',
    ]


def test_extra_label_function_that_raises():
    """A raising label function gives _OTHER and never breaks the request."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, metrics=["requests"], extra_labels={"tenant": lambda req: req.missing})
    assert engine.needs_request
    assert not HttpMetrics(registry=CollectorRegistry()).needs_request
    _request(engine, "GET", "/a", "/a", 200)
    assert registry.get_sample_value(
        "http_requests_total", {"method": "GET", "handler": "/a", "status": "200", "tenant": "_OTHER"}) == 1


def test_extra_label_limit_must_be_positive():
    """extra_label_limit below 1 is refused at setup."""
    with pytest.raises(ValueError, match="extra_label_limit"):
        HttpMetrics(registry=CollectorRegistry(), extra_labels={"a": str}, extra_label_limit=0)


def test_in_progress_lifecycle():
    """In-progress goes up when the handler is known and back to 0 after finish or cancel."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry)
    labels = {"method": "GET", "handler": "/slow"}
    t1 = engine.start("GET", "/slow", "/slow")
    t2 = engine.start("GET", "/slow")
    assert registry.get_sample_value("http_requests_in_progress", labels) == 1
    t2.set_handler("/slow")
    t2.set_handler("/other")  # the first route given wins
    assert registry.get_sample_value("http_requests_in_progress", labels) == 2
    t1.finish(200)
    assert registry.get_sample_value("http_requests_in_progress", labels) == 1
    t2.cancel()
    assert registry.get_sample_value("http_requests_in_progress", labels) == 0
    assert registry.get_sample_value("http_requests_total", {**labels, "status": "200"}) == 1
    t2.finish(200)  # a cancelled request stays unrecorded
    assert registry.get_sample_value("http_requests_total", {**labels, "status": "200"}) == 1


def test_finish_is_idempotent():
    """Only the first finish records; later calls (and a cancel) change nothing."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry)
    timer = engine.start("GET", "/a", "/a")
    timer.finish(200)
    timer.finish(500, exception=ValueError())
    timer.cancel()
    assert _lines(registry)[0] == 'http_requests_total{handler="/a",method="GET",status="200"} 1.0'
    assert registry.get_sample_value("http_requests_in_progress", {"method": "GET", "handler": "/a"}) == 0
    assert registry.get_sample_value("http_requests_total", {"method": "GET", "handler": "/a", "status": "500"}) \
        is None


def test_exceptions_by_class_name():
    """Exceptions are counted by their class name, next to the request they failed."""
    class PaymentDeclined(Exception):
        pass

    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry)
    _request(engine, "POST", "/pay", "/pay", 500, exception=PaymentDeclined())
    _request(engine, "POST", "/pay", "/pay", 500, exception=PaymentDeclined())
    _request(engine, "POST", "/pay", "/pay", 500, exception=KeyboardInterrupt())
    _request(engine, "POST", "/pay", "/pay", 200)
    base = {"method": "POST", "handler": "/pay"}
    assert registry.get_sample_value("http_exceptions_total", {**base, "exception": "PaymentDeclined"}) == 2
    assert registry.get_sample_value("http_exceptions_total", {**base, "exception": "KeyboardInterrupt"}) == 1
    assert registry.get_sample_value("http_requests_total", {**base, "status": "500"}) == 3


def test_buckets_option():
    """The buckets option replaces the duration buckets and leaves the size buckets alone."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, buckets=[0.1, 2], metrics=["duration", "response_size"])
    _request(engine, "GET", "/a", "/a", 200, response_size=5)
    les = [s.labels["le"] for f in registry.collect() if f.name == "http_request_duration_seconds"
           for s in f.samples if s.name.endswith("_bucket")]
    assert les == ["0.1", "2.0", "+Inf"]
    les = [s.labels["le"] for f in registry.collect() if f.name == "http_response_size_bytes"
           for s in f.samples if s.name.endswith("_bucket")]
    assert les == ["100.0", "1000.0", "10000.0", "100000.0", "1e+06", "1e+07", "+Inf"]


def test_unknown_preset_and_kind():
    """An unknown preset or metric kind is refused at setup with the valid choices in the message."""
    with pytest.raises(ValueError, match=r"Unknown preset 'prom'.*opentelemetry"):
        HttpMetrics(preset="prom", registry=CollectorRegistry())
    with pytest.raises(ValueError, match=r"Unknown metric kinds \['latency'\].*duration"):
        HttpMetrics(metrics=["requests", "latency"], registry=CollectorRegistry())


def test_duplicate_registration_is_refused():
    """Two engines with the same names in one registry fail like any duplicate metric."""
    registry = CollectorRegistry()
    HttpMetrics(registry=registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        HttpMetrics(registry=registry)
    HttpMetrics(registry=registry, namespace="other")


def _traffic(engine: HttpMetrics) -> None:
    """A small scripted mix: two 200s on a route, an unmatched 404, a failed POST, a cancelled request."""
    _request(engine, "GET", "/users/1", "/users/{id}", 200, request_size=0, response_size=120)
    _request(engine, "GET", "/users/2", "/users/{id}", 200, request_size=0, response_size=120)
    _request(engine, "GET", "/nope", None, 404, response_size=9)
    _request(engine, "POST", "/orders", "/orders", 500, request_size=50, response_size=21, exception=ValueError())
    engine.start("GET", "/users/3", "/users/{id}").cancel()


PRESET_EXPORTS = {
    "default": {
        "http_requests": ("counter", ["handler", "method", "status"]),
        "http_request_duration_seconds": ("histogram", ["handler", "method"]),
        "http_requests_in_progress": ("gauge", ["handler", "method"]),
        "http_exceptions": ("counter", ["exception", "handler", "method"]),
    },
    "opentelemetry": {
        "http_server_request_duration_seconds": (
            "histogram", ["http_request_method", "http_response_status_code", "http_route"]),
        "http_server_active_requests": ("gauge", ["http_request_method", "http_route"]),
        "http_server_request_body_size_bytes": ("histogram", ["http_request_method", "http_route"]),
        "http_server_response_body_size_bytes": ("histogram", ["http_request_method", "http_route"]),
        "http_server_exceptions": ("counter", ["error_type", "http_request_method", "http_route"]),
    },
    "instrumentator": {
        "http_requests": ("counter", ["handler", "method", "status"]),
        "http_request_size_bytes": ("summary", ["handler"]),
        "http_response_size_bytes": ("summary", ["handler"]),
        "http_request_duration_highr_seconds": ("histogram", []),
        "http_request_duration_seconds": ("histogram", ["handler", "method"]),
    },
    "flask_exporter": {
        "flask_http_request_duration_seconds": ("histogram", ["method", "path", "status"]),
        "flask_http_request": ("counter", ["method", "status"]),
        "flask_http_request_exceptions": ("counter", ["method", "status"]),
    },
    "starlette_exporter": {
        "starlette_requests": ("counter", ["app_name", "method", "path", "status_code"]),
        "starlette_request_duration_seconds": ("histogram", ["app_name", "method", "path", "status_code"]),
        "starlette_requests_in_progress": ("gauge", ["app_name", "method"]),
    },
    "django_prometheus": {
        "django_http_inflight_requests": ("gauge", []),
        "django_http_requests_latency_including_middlewares_seconds": ("histogram", []),
        "django_http_requests_total_by_method": ("counter", ["method"]),
        "django_http_requests_body_total_bytes": ("histogram", []),
        "django_http_responses_body_total_bytes": ("histogram", []),
        "django_http_responses_total_by_status": ("counter", ["status"]),
        "django_http_responses_total_by_status_view_method": ("counter", ["method", "status", "view"]),
        "django_http_requests_latency_seconds_by_view_method": ("histogram", ["method", "view"]),
        "django_http_exceptions_total_by_type": ("counter", ["type"]),
        "django_http_exceptions_total_by_view": ("counter", ["view"]),
    },
}


def test_every_preset_is_covered():
    """The table below names every preset there is."""
    assert sorted(PRESET_EXPORTS) == sorted(PRESETS)


@pytest.mark.parametrize("preset", sorted(PRESET_EXPORTS))
def test_preset_names_and_labels(preset):
    """Each preset exports exactly its documented families, types and label names on a small traffic mix."""
    registry = CollectorRegistry()
    _traffic(HttpMetrics(registry=registry, preset=preset))
    assert _names(registry) == PRESET_EXPORTS[preset]


def test_preset_values_opentelemetry():
    """The OpenTelemetry preset puts the route, method and status code in its semantic-convention labels."""
    registry = CollectorRegistry()
    _traffic(HttpMetrics(registry=registry, preset="opentelemetry"))
    get = registry.get_sample_value
    assert get("http_server_request_duration_seconds_count", {
        "http_request_method": "GET", "http_route": "/users/{id}", "http_response_status_code": "200"}) == 2
    assert get("http_server_request_duration_seconds_count", {
        "http_request_method": "GET", "http_route": "none", "http_response_status_code": "404"}) == 1
    assert get("http_server_exceptions_total", {
        "http_request_method": "POST", "http_route": "/orders", "error_type": "ValueError"}) == 1
    assert get("http_server_active_requests", {"http_request_method": "GET", "http_route": "/users/{id}"}) == 0
    assert get("http_server_request_body_size_bytes_sum", {"http_request_method": "POST", "http_route": "/orders"}) \
        == 50


def test_preset_values_instrumentator():
    """The instrumentator preset groups status codes like the instrumentator does by default."""
    registry = CollectorRegistry()
    _traffic(HttpMetrics(registry=registry, preset="instrumentator"))
    get = registry.get_sample_value
    assert get("http_requests_total", {"method": "GET", "handler": "/users/{id}", "status": "2xx"}) == 2
    assert get("http_requests_total", {"method": "GET", "handler": "none", "status": "4xx"}) == 1
    assert get("http_request_duration_highr_seconds_count", {}) == 4
    assert get("http_request_duration_seconds_bucket", {"method": "GET", "handler": "/users/{id}", "le": "+Inf"}) == 2
    assert get("http_response_size_bytes_sum", {"handler": "/users/{id}"}) == 240
    assert get("http_request_size_bytes_count", {"handler": "/orders"}) == 1
    exact = CollectorRegistry()
    _traffic(HttpMetrics(registry=exact, preset="instrumentator", group_status=False))
    assert exact.get_sample_value("http_requests_total", {"method": "GET", "handler": "none", "status": "404"}) == 1


def test_preset_values_flask_exporter():
    """The flask_exporter preset counts by method and status and times by route template in "path"."""
    registry = CollectorRegistry()
    _traffic(HttpMetrics(registry=registry, preset="flask_exporter"))
    get = registry.get_sample_value
    assert get("flask_http_request_total", {"method": "GET", "status": "200"}) == 2
    assert get("flask_http_request_total", {"method": "GET", "status": "404"}) == 1
    assert get("flask_http_request_duration_seconds_count", {"method": "GET", "path": "/users/{id}", "status": "200"}) \
        == 2
    assert get("flask_http_request_exceptions_total", {"method": "POST", "status": "500"}) == 1


def test_preset_values_starlette_exporter():
    """The starlette_exporter preset uses path/status_code and the app_name="starlette" label."""
    registry = CollectorRegistry()
    _traffic(HttpMetrics(registry=registry, preset="starlette_exporter"))
    get = registry.get_sample_value
    assert get("starlette_requests_total", {
        "app_name": "starlette", "method": "GET", "path": "/users/{id}", "status_code": "200"}) == 2
    assert get("starlette_request_duration_seconds_count", {
        "app_name": "starlette", "method": "POST", "path": "/orders", "status_code": "500"}) == 1
    assert get("starlette_requests_in_progress", {"app_name": "starlette", "method": "GET"}) == 0
    named = CollectorRegistry()
    _traffic(HttpMetrics(registry=named, preset="starlette_exporter", const_labels={"app_name": "shop"}))
    assert named.get_sample_value("starlette_requests_in_progress", {"app_name": "shop", "method": "GET"}) == 0


def test_preset_values_django_prometheus():
    """The django_prometheus preset fills each of its by_* counters and its unlabelled series from the same requests."""
    registry = CollectorRegistry()
    _traffic(HttpMetrics(registry=registry, preset="django_prometheus"))
    counters = [line for line in _lines(registry) if line.startswith(("django_http_requests_total_by",
                                                                        "django_http_responses_total_by_status_total"))]
    assert counters == [
        'django_http_requests_total_by_method_total{method="GET"} 3.0',
        'django_http_requests_total_by_method_total{method="POST"} 1.0',
        'django_http_responses_total_by_status_total{status="200"} 2.0',
        'django_http_responses_total_by_status_total{status="404"} 1.0',
        'django_http_responses_total_by_status_total{status="500"} 1.0',
    ]
    get = registry.get_sample_value
    assert get("django_http_inflight_requests") == 0
    assert get("django_http_requests_latency_including_middlewares_seconds_count") == 4
    assert get("django_http_requests_body_total_bytes_sum") == 50
    assert get("django_http_requests_body_total_bytes_bucket", {"le": "0.0"}) == 2
    assert get("django_http_requests_body_total_bytes_bucket", {"le": "64.0"}) == 3
    assert get("django_http_responses_body_total_bytes_sum") == 270
    assert get("django_http_responses_body_total_bytes_bucket", {"le": "128.0"}) == 4
    assert registry.get_sample_value("django_http_exceptions_total_by_type_total", {"type": "ValueError"}) == 1
    assert registry.get_sample_value("django_http_exceptions_total_by_view_total", {"view": "/orders"}) == 1
    assert registry.get_sample_value(
        "django_http_requests_latency_seconds_by_view_method_bucket",
        {"view": "/users/{id}", "method": "GET", "le": "75.0"}) == 2


def test_concurrent_requests():
    """Requests from many threads add up exactly and leave in-progress at 0; the extra label limit holds."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, extra_labels={"user": lambda request: request}, extra_label_limit=5)
    barrier = threading.Barrier(8)

    def work(n):
        barrier.wait()
        for i in range(300):
            timer = engine.start("GET", "/a", request=f"{n}-{i % 20}")
            timer.set_handler(f"/h{i % 3}")
            timer.finish(200 if i % 2 else 500)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    samples = [s for f in registry.collect() for s in f.samples]
    assert sum(s.value for s in samples if s.name == "http_requests_total") == 2400
    assert {s.value for s in samples if s.name == "http_requests_in_progress"} == {0}
    assert len({s.labels["user"] for s in samples if s.name == "http_requests_total"}) == 6  # 5 values + _OTHER
