"""The HTTP metric schema as data: which series a preset exports and how their labels are named.

Every integration records the same *logical* facts about a request (method,
handler, status, exception, sizes, duration). A preset maps those facts onto
metric names and label names, so the engine has one code path whatever names a
team's dashboards expect. Logical label names: ``method``, ``handler``,
``status``, ``exception``; a preset may also fix constant labels.
"""

from __future__ import annotations

from typing import Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

DEFAULT_DURATION_BUCKETS: Tuple[float, ...] = (
    .005, .01, .025, .05, .075, .1, .25, .5, .75, 1.0, 2.5, 5.0, 7.5, 10.0)
SIZE_BUCKETS: Tuple[float, ...] = (100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)

# What a series counts or measures.
REQUESTS, DURATION, IN_PROGRESS, EXCEPTIONS, REQUEST_SIZE, RESPONSE_SIZE, TTFB = (
    "requests", "duration", "in_progress", "exceptions", "request_size", "response_size", "ttfb")
KINDS = (REQUESTS, DURATION, IN_PROGRESS, EXCEPTIONS, REQUEST_SIZE, RESPONSE_SIZE, TTFB)


class Series(NamedTuple):
    """One exported metric of a preset."""

    kind: str                      # one of KINDS
    type: str                      # counter | histogram | gauge | summary
    name: str                      # without the user's namespace
    help: str
    labels: Tuple[Tuple[str, str], ...]  # (exported label name, logical label name)
    buckets: Optional[Tuple[float, ...]] = None
    const: Tuple[Tuple[str, str], ...] = ()  # (label name, fixed value); the user's const_labels override them


def _s(kind: str, typ: str, name: str, doc: str, labels: Mapping[str, str],
       buckets: Optional[Sequence[float]] = None, const: Optional[Mapping[str, str]] = None) -> Series:
    return Series(kind, typ, name, doc, tuple(labels.items()), tuple(buckets) if buckets else None,
                  tuple((const or {}).items()))


_STD = {"method": "method", "handler": "handler"}
# django-prometheus's PROMETHEUS_LATENCY_BUCKETS and its body-size buckets (0, then 2**0 .. 2**29 bytes).
_DJANGO_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 25.0, 50.0, 75.0)
_POWERS_OF_TWO = (0.0, *(float(2 ** i) for i in range(30)))
_STARLETTE_APP = {"app_name": "starlette"}

PRESETS: Dict[str, Tuple[Series, ...]] = {
    # The shared schema of the design: one dashboard for every framework.
    "default": (
        _s(REQUESTS, "counter", "http_requests_total", "HTTP requests handled.",
           {"method": "method", "handler": "handler", "status": "status"}),
        _s(DURATION, "histogram", "http_request_duration_seconds",
           "Time from request start to the last byte of the response.", _STD, DEFAULT_DURATION_BUCKETS),
        _s(IN_PROGRESS, "gauge", "http_requests_in_progress", "HTTP requests being handled now.", _STD),
        _s(EXCEPTIONS, "counter", "http_exceptions_total", "Exceptions raised while handling HTTP requests.",
           {"method": "method", "handler": "handler", "exception": "exception"}),
        _s(REQUEST_SIZE, "histogram", "http_request_size_bytes", "Size of HTTP request bodies.", _STD,
           SIZE_BUCKETS),
        _s(RESPONSE_SIZE, "histogram", "http_response_size_bytes", "Size of HTTP response bodies.", _STD,
           SIZE_BUCKETS),
        _s(TTFB, "histogram", "http_time_to_first_byte_seconds",
           "Time from request start to the first byte of the response body.", _STD, DEFAULT_DURATION_BUCKETS),
    ),
    # OpenTelemetry semantic conventions for HTTP servers, as Prometheus names.
    "opentelemetry": (
        _s(DURATION, "histogram", "http_server_request_duration_seconds", "Duration of HTTP server requests.",
           {"http_request_method": "method", "http_route": "handler", "http_response_status_code": "status"},
           DEFAULT_DURATION_BUCKETS),
        _s(IN_PROGRESS, "gauge", "http_server_active_requests", "Number of active HTTP server requests.",
           {"http_request_method": "method", "http_route": "handler"}),
        _s(REQUEST_SIZE, "histogram", "http_server_request_body_size_bytes", "Size of HTTP server request bodies.",
           {"http_request_method": "method", "http_route": "handler"}, SIZE_BUCKETS),
        _s(RESPONSE_SIZE, "histogram", "http_server_response_body_size_bytes",
           "Size of HTTP server response bodies.",
           {"http_request_method": "method", "http_route": "handler"}, SIZE_BUCKETS),
        _s(EXCEPTIONS, "counter", "http_server_exceptions_total", "Exceptions raised by HTTP server requests.",
           {"http_request_method": "method", "http_route": "handler", "error_type": "exception"}),
    ),
    # prometheus-fastapi-instrumentator's default metrics.
    "instrumentator": (
        _s(REQUESTS, "counter", "http_requests_total", "Total number of requests by method, status and handler.",
           {"method": "method", "status": "status", "handler": "handler"}),
        _s(REQUEST_SIZE, "summary", "http_request_size_bytes",
           "Content length of incoming requests by handler. Only value of header is respected. Otherwise ignored. "
           "No percentile calculated. ", {"handler": "handler"}),
        _s(RESPONSE_SIZE, "summary", "http_response_size_bytes",
           "Content length of outgoing responses by handler. Only value of header is respected. Otherwise "
           "ignored. No percentile calculated. ", {"handler": "handler"}),
        _s(DURATION, "histogram", "http_request_duration_highr_seconds",
           "Latency with many buckets but no API specific labels. Made for more accurate percentile "
           "calculations. ", {},
           (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 7.5, 10.0,
            30.0, 60.0)),
        _s(DURATION, "histogram", "http_request_duration_seconds",
           "Latency with only few buckets by handler. Made to be only used if aggregation by handler is important. ",
           {"method": "method", "handler": "handler"}, (0.1, 0.5, 1.0)),
    ),
    # prometheus-flask-exporter's default metrics (route templates, never raw paths).
    "flask_exporter": (
        _s(DURATION, "histogram", "flask_http_request_duration_seconds", "Flask HTTP request duration in seconds",
           {"method": "method", "path": "handler", "status": "status"}, DEFAULT_DURATION_BUCKETS),
        _s(REQUESTS, "counter", "flask_http_request_total", "Total number of HTTP requests",
           {"method": "method", "status": "status"}),
        _s(EXCEPTIONS, "counter", "flask_http_request_exceptions_total",
           "Total number of HTTP requests which resulted in an exception", {"method": "method", "status": "status"}),
    ),
    # starlette_exporter's default metrics, with its app_name label (const_labels={"app_name": ...} renames it).
    "starlette_exporter": (
        _s(REQUESTS, "counter", "starlette_requests_total", "Total HTTP requests",
           {"method": "method", "path": "handler", "status_code": "status"}, const=_STARLETTE_APP),
        _s(DURATION, "histogram", "starlette_request_duration_seconds", "HTTP request duration, in seconds",
           {"method": "method", "path": "handler", "status_code": "status"}, DEFAULT_DURATION_BUCKETS,
           const=_STARLETTE_APP),
        _s(IN_PROGRESS, "gauge", "starlette_requests_in_progress",
           "Total HTTP requests currently in progress", {"method": "method"}, const=_STARLETTE_APP),
    ),
    # django-prometheus's request metrics that are facts of the engine. Its Django-only series (the
    # before-middleware counters, transport, AJAX, template, charset, streaming) live in pyrometer_django;
    # its db/cache/model/migration metrics too.
    "django_prometheus": (
        _s(IN_PROGRESS, "gauge", "django_http_inflight_requests", "Current number of inflight requests.", {}),
        _s(DURATION, "histogram", "django_http_requests_latency_including_middlewares_seconds",
           "Histogram of requests processing time (including middleware processing time).", {},
           _DJANGO_LATENCY_BUCKETS),
        _s(DURATION, "histogram", "django_http_requests_latency_seconds_by_view_method",
           "Histogram of request processing time labelled by view.", {"view": "handler", "method": "method"},
           _DJANGO_LATENCY_BUCKETS),
        _s(REQUESTS, "counter", "django_http_requests_total_by_method", "Count of requests by method.",
           {"method": "method"}),
        _s(REQUEST_SIZE, "histogram", "django_http_requests_body_total_bytes", "Histogram of requests by body size.",
           {}, _POWERS_OF_TWO),
        _s(REQUESTS, "counter", "django_http_responses_total_by_status", "Count of responses by status.",
           {"status": "status"}),
        _s(REQUESTS, "counter", "django_http_responses_total_by_status_view_method",
           "Count of responses by status, view, method.", {"status": "status", "view": "handler", "method": "method"}),
        _s(RESPONSE_SIZE, "histogram", "django_http_responses_body_total_bytes",
           "Histogram of responses by body size.", {}, _POWERS_OF_TWO),
        _s(EXCEPTIONS, "counter", "django_http_exceptions_total_by_type", "Count of exceptions by object type.",
           {"type": "exception"}),
        _s(EXCEPTIONS, "counter", "django_http_exceptions_total_by_view", "Count of exceptions by view.",
           {"view": "handler"}),
    ),
}

# Option defaults a preset changes, so that its series carry the values its dashboards expect
# (the instrumentator reports "2xx" unless told otherwise). An explicit option still wins.
PRESET_DEFAULTS: Dict[str, Dict[str, object]] = {
    "instrumentator": {"group_status": True},
}

# Series on by default; request/response sizes and time to first byte are opt-in for "default".
DEFAULT_ENABLED = frozenset((REQUESTS, DURATION, IN_PROGRESS, EXCEPTIONS))
