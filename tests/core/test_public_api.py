"""Pins pyrometer's public surface to prometheus_client 0.26.0's, name by name.

The expected names are written out here (read off prometheus_client 0.26.0), so
this test keeps compatibility from eroding even where prometheus_client is not
installed.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

ALL = {
    "pyrometer": [
        "CollectorRegistry", "REGISTRY", "Metric", "Counter", "Gauge", "Summary", "Histogram", "Info", "Enum",
        "enable_created_metrics", "disable_created_metrics", "CONTENT_TYPE_LATEST", "CONTENT_TYPE_PLAIN_0_0_4",
        "CONTENT_TYPE_PLAIN_1_0_0", "generate_latest", "MetricsHandler", "make_wsgi_app", "make_asgi_app",
        "start_http_server", "start_wsgi_server", "write_to_textfile", "push_to_gateway", "pushadd_to_gateway",
        "delete_from_gateway", "instance_ip_grouping_key", "ProcessCollector", "PROCESS_COLLECTOR",
        "PlatformCollector", "PLATFORM_COLLECTOR", "GCCollector", "GC_COLLECTOR",
    ],
    "pyrometer.core": [
        "BucketSpan", "CollectorRegistry", "Counter", "CounterMetricFamily", "DuplicateTimeseries", "Enum",
        "Exemplar", "Gauge", "GaugeHistogramMetricFamily", "GaugeMetricFamily", "Histogram",
        "HistogramMetricFamily", "Info", "InfoMetricFamily", "Metric", "NativeHistogram", "REGISTRY", "Sample",
        "StateSetMetricFamily", "Summary", "SummaryMetricFamily", "Timestamp", "UnknownMetricFamily",
        "UntypedMetricFamily",
    ],
    "pyrometer.exposition": [
        "CONTENT_TYPE_LATEST", "CONTENT_TYPE_PLAIN_0_0_4", "CONTENT_TYPE_PLAIN_1_0_0", "delete_from_gateway",
        "generate_latest", "instance_ip_grouping_key", "make_asgi_app", "make_wsgi_app", "MetricsHandler",
        "push_to_gateway", "pushadd_to_gateway", "start_http_server", "start_wsgi_server", "write_to_textfile",
    ],
    "pyrometer.aiohttp": ["make_aiohttp_handler"],
    "pyrometer.twisted": ["MetricsResource"],
    "pyrometer.django": ["PrometheusDjangoView"],
}

# Names each module defines beyond (or without) an __all__.
DEFINED = {
    "pyrometer.asgi": ["make_asgi_app"],
    "pyrometer.aiohttp.exposition": ["make_aiohttp_handler"],
    "pyrometer.bridge.graphite": ["GraphiteBridge"],
    "pyrometer.context_managers": ["ExceptionCounter", "InprogressTracker", "Timer"],
    "pyrometer.decorator": ["ArgSpec", "ContextManager", "contextmanager", "decorate", "decorator", "getargspec"],
    "pyrometer.django.exposition": ["PrometheusDjangoView"],
    "pyrometer.exposition": [
        "MetricsHandler", "ThreadingWSGIServer", "basic_auth_handler", "choose_encoder", "default_handler",
        "delete_from_gateway", "generate_latest", "gzip_accepted", "instance_ip_grouping_key", "make_wsgi_app",
        "passthrough_redirect_handler", "push_to_gateway", "pushadd_to_gateway", "start_http_server",
        "start_wsgi_server", "tls_auth_handler", "write_to_textfile",
    ],
    "pyrometer.gc_collector": ["GCCollector", "GC_COLLECTOR"],
    "pyrometer.metrics": [
        "Counter", "Enum", "F", "Gauge", "Histogram", "Info", "MetricWrapperBase", "Summary", "T",
        "disable_created_metrics", "enable_created_metrics",
    ],
    "pyrometer.metrics_core": [
        "CounterMetricFamily", "GaugeHistogramMetricFamily", "GaugeMetricFamily", "HistogramMetricFamily",
        "InfoMetricFamily", "Metric", "StateSetMetricFamily", "SummaryMetricFamily", "UnknownMetricFamily",
        "UntypedMetricFamily", "METRIC_TYPES",
    ],
    "pyrometer.openmetrics.exposition": [
        "escape_label_name", "escape_metric_name", "generate_latest", "CONTENT_TYPE_LATEST",
        "CONTENT_TYPE_LATEST_2_0", "ESCAPING_HEADER_TAG", "ALLOWUTF8", "UNDERSCORES", "DOTS", "VALUES",
    ],
    "pyrometer.openmetrics.parser": ["text_fd_to_metric_families", "text_string_to_metric_families"],
    "pyrometer.parser": [
        "parse_labels", "replace_escape_sequence", "text_fd_to_metric_families", "text_string_to_metric_families",
    ],
    "pyrometer.platform_collector": ["PLATFORM_COLLECTOR", "PlatformCollector"],
    "pyrometer.process_collector": ["PROCESS_COLLECTOR", "ProcessCollector"],
    "pyrometer.registry": ["Collector", "CollectorRegistry", "DuplicateTimeseries", "REGISTRY", "RestrictedRegistry"],
    "pyrometer.samples": ["BucketSpan", "Exemplar", "NativeHistogram", "Sample", "Timestamp"],
    "pyrometer.twisted._exposition": ["MetricsResource"],
    "pyrometer.utils": ["floatToGoString", "parse_version", "INF", "MINUS_INF", "NaN"],
    "pyrometer.validation": [
        "disable_legacy_validation", "enable_legacy_validation", "get_legacy_validation", "METRIC_LABEL_NAME_RE",
        "METRIC_NAME_RE", "RESERVED_METRIC_LABEL_NAME_RE",
    ],
    "pyrometer.values": ["MultiProcessValue", "MutexValue", "ValueClass", "close_all_multiprocess_files",
                         "get_value_class"],
    "pyrometer.multiprocess": ["MultiProcessCollector", "mark_process_dead"],
    "pyrometer.mmap_dict": ["MmapedDict", "mmap_key"],
}

# Modules that land with the multiprocess issue; strict xfail turns red once they exist,
# so this list has to be emptied then.
PENDING: set = set()


def _param(mod: str):
    marks = [pytest.mark.xfail(strict=True, reason="multiprocess mode (issue 4)")] if mod in PENDING else []
    return pytest.param(mod, marks=marks, id=mod)


# pyrometer.<name> modules that need the framework of that name, as prometheus_client's do.
FRAMEWORK_MODULES = ("aiohttp", "twisted", "django")


def _import(module: str):
    """The module, or a skip when its framework is not installed (the core-only tox env has none)."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in FRAMEWORK_MODULES:
        pytest.importorskip(parts[1])
    return importlib.import_module(module)


@pytest.mark.parametrize("module", sorted(ALL))
def test_dunder_all_matches_prometheus_client(module):
    """Each module with an __all__ in prometheus_client exports exactly the same names."""
    mod = _import(module)
    assert sorted(mod.__all__) == sorted(ALL[module])
    for name in ALL[module]:
        assert hasattr(mod, name), name


@pytest.mark.parametrize("module", [_param(m) for m in sorted(DEFINED)])
def test_module_defines_public_names(module):
    """Each public module offers every name prometheus_client's module of the same path defines."""
    mod = _import(module)
    missing = [n for n in DEFINED[module] if not hasattr(mod, n)]
    assert missing == []


SIGNATURES = {
    "Counter": ["name", "documentation", "labelnames", "namespace", "subsystem", "unit", "registry", "_labelvalues"],
    "Gauge": ["name", "documentation", "labelnames", "namespace", "subsystem", "unit", "registry", "_labelvalues",
              "multiprocess_mode"],
    "Histogram": ["name", "documentation", "labelnames", "namespace", "subsystem", "unit", "registry",
                  "_labelvalues", "buckets"],
    "Enum": ["name", "documentation", "labelnames", "namespace", "subsystem", "unit", "registry", "_labelvalues",
             "states"],
    "start_http_server": ["port", "addr", "registry", "certfile", "keyfile", "client_cafile", "client_capath",
                          "protocol", "client_auth_required", "tls_min_version", "tls_max_version"],
    "push_to_gateway": ["gateway", "job", "registry", "grouping_key", "timeout", "handler", "compression"],
    "write_to_textfile": ["path", "registry", "escaping", "tmpdir"],
    "generate_latest": ["registry", "escaping"],
    "make_wsgi_app": ["registry", "disable_compression"],
    "make_asgi_app": ["registry", "disable_compression"],
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_parameter_names_match(name):
    """Public callables take prometheus_client's parameters first, in its order (extras may only follow)."""
    import pyrometer

    params = list(inspect.signature(getattr(pyrometer, name)).parameters)
    assert params[:len(SIGNATURES[name])] == SIGNATURES[name]


def test_drop_in_import():
    """Code written against prometheus_client runs unchanged after `import pyrometer as prometheus_client`."""
    import pyrometer as prometheus_client
    from pyrometer.core import CounterMetricFamily

    reg = prometheus_client.CollectorRegistry()
    c = prometheus_client.Counter("jobs_total", "Jobs.", ["kind"], registry=reg)
    c.labels(kind="a").inc()

    class Custom:
        def collect(self):
            yield CounterMetricFamily("custom_total", "Custom.", value=2)

    reg.register(Custom())
    text = prometheus_client.generate_latest(reg).decode()
    assert 'jobs_total{kind="a"} 1.0\n' in text
    assert "custom_total 2.0\n" in text
