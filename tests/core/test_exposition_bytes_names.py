"""Exact exposition bytes for UTF-8 names under each escaping, and for custom collector families."""

from __future__ import annotations

import pytest
from exposition_helpers import NOW, Families, frozen_time, lines, om, text  # noqa: F401 - frozen_time is autouse
from pyrometer._text_format import generate_latest
from pyrometer.metrics import Counter, Gauge
from pyrometer.metrics_core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    StateSetMetricFamily,
    UnknownMetricFamily,
)
from pyrometer.registry import CollectorRegistry
from pyrometer.samples import Exemplar, Timestamp

# -- UTF-8 names under each escaping ----------------------------------------------

def utf8_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("my.count", "Dotted.", ["label.name", "ok"], registry=registry).labels("v", "w").inc()
    Gauge("temp:°C", "Unicode.", ["räum"], registry=registry).labels("küche").set(20)
    return registry


def test_utf8_names_with_underscores_escaping() -> None:
    """``underscores`` replaces each character outside the legacy set with ``_`` (``:`` is kept in metric names)."""
    registry = utf8_registry()
    assert text(registry, "underscores") == lines(
        "# HELP my_count_total Dotted.",
        "# TYPE my_count_total counter",
        'my_count_total{label_name="v",ok="w"} 1.0',
        "# HELP my_count_created Dotted.",
        "# TYPE my_count_created gauge",
        'my_count_created{label_name="v",ok="w"} 1.70000000025e+09',
        "# HELP temp:_C Unicode.",
        "# TYPE temp:_C gauge",
        'temp:_C{r_um="küche"} 20.0',
    )
    assert om(registry, "underscores") == lines(
        "# HELP my_count Dotted.",
        "# TYPE my_count counter",
        'my_count_total{label_name="v",ok="w"} 1.0',
        'my_count_created{label_name="v",ok="w"} 1.70000000025e+09',
        "# HELP temp:_C Unicode.",
        "# TYPE temp:_C gauge",
        'temp:_C{r_um="küche"} 20.0',
        "# EOF",
    )


def test_utf8_names_with_allow_utf8_escaping() -> None:
    """``allow-utf-8`` quotes non-legacy names and moves the metric name inside the braces."""
    registry = utf8_registry()
    assert text(registry, "allow-utf-8") == lines(
        '# HELP "my.count_total" Dotted.',
        '# TYPE "my.count_total" counter',
        '{"my.count_total","label.name"="v",ok="w"} 1.0',
        '# HELP "my.count_created" Dotted.',
        '# TYPE "my.count_created" gauge',
        '{"my.count_created","label.name"="v",ok="w"} 1.70000000025e+09',
        '# HELP "temp:°C" Unicode.',
        '# TYPE "temp:°C" gauge',
        '{"temp:°C","räum"="küche"} 20.0',
    )
    assert om(registry, "allow-utf-8") == lines(
        '# HELP "my.count" Dotted.',
        '# TYPE "my.count" counter',
        '{"my.count_total","label.name"="v",ok="w"} 1.0',
        '{"my.count_created","label.name"="v",ok="w"} 1.70000000025e+09',
        '# HELP "temp:°C" Unicode.',
        '# TYPE "temp:°C" gauge',
        '{"temp:°C","räum"="küche"} 20.0',
        "# EOF",
    )


def test_utf8_names_with_dots_escaping() -> None:
    """``dots`` doubles underscores, spells ``.`` as ``_dot_`` and other invalid characters as ``__``."""
    registry = utf8_registry()
    assert text(registry, "dots") == lines(
        "# HELP my_dot_count__total Dotted.",
        "# TYPE my_dot_count__total counter",
        'my_dot_count__total{label_dot_name="v",ok="w"} 1.0',
        "# HELP my_dot_count__created Dotted.",
        "# TYPE my_dot_count__created gauge",
        'my_dot_count__created{label_dot_name="v",ok="w"} 1.70000000025e+09',
        "# HELP temp:__C Unicode.",
        "# TYPE temp:__C gauge",
        'temp:__C{r__um="küche"} 20.0',
    )
    assert om(registry, "dots") == lines(
        "# HELP my_dot_count Dotted.",
        "# TYPE my_dot_count counter",
        'my_dot_count__total{label_dot_name="v",ok="w"} 1.0',
        'my_dot_count__created{label_dot_name="v",ok="w"} 1.70000000025e+09',
        "# HELP temp:__C Unicode.",
        "# TYPE temp:__C gauge",
        'temp:__C{r__um="küche"} 20.0',
        "# EOF",
    )


def test_utf8_names_with_values_escaping() -> None:
    """``values`` prefixes ``U__`` and spells invalid characters as ``_<hex>_`` (legacy names stay as they are)."""
    registry = utf8_registry()
    assert text(registry, "values") == lines(
        "# HELP U__my_2e_count__total Dotted.",
        "# TYPE U__my_2e_count__total counter",
        'U__my_2e_count__total{U__label_2e_name="v",ok="w"} 1.0',
        "# HELP U__my_2e_count__created Dotted.",
        "# TYPE U__my_2e_count__created gauge",
        'U__my_2e_count__created{U__label_2e_name="v",ok="w"} 1.70000000025e+09',
        "# HELP U__temp:_b0_C Unicode.",
        "# TYPE U__temp:_b0_C gauge",
        'U__temp:_b0_C{U__r_e4_um="küche"} 20.0',
    )
    assert om(registry, "values") == lines(
        "# HELP U__my_2e_count Dotted.",
        "# TYPE U__my_2e_count counter",
        'U__my_2e_count__total{U__label_2e_name="v",ok="w"} 1.0',
        'U__my_2e_count__created{U__label_2e_name="v",ok="w"} 1.70000000025e+09',
        "# HELP U__temp:_b0_C Unicode.",
        "# TYPE U__temp:_b0_C gauge",
        'U__temp:_b0_C{U__r_e4_um="küche"} 20.0',
        "# EOF",
    )


@pytest.mark.parametrize("escaping,sample", [
    ("underscores", 'job:requests_total{a="x"} 1.0'),
    ("allow-utf-8", 'job:requests_total{a="x"} 1.0'),
    ("values", 'job:requests_total{a="x"} 1.0'),
    ("dots", 'job:requests__total{a="x"} 1.0'),
])
def test_openmetrics_sample_names_use_metric_name_escaping(escaping: str, sample: str, no_created: None) -> None:
    """OM sample names are escaped like the HELP line's metric name, so a recording-rule ``:`` survives."""
    registry = CollectorRegistry()
    Counter("job:requests", "Rule.", ["a"], registry=registry).labels("x").inc()
    help_name = "job:requests"
    assert om(registry, escaping) == lines(
        f"# HELP {help_name} Rule.",
        f"# TYPE {help_name} counter",
        sample,
        "# EOF",
    )


def test_openmetrics_values_escaping_keeps_legacy_sample_names(no_created: None) -> None:
    """Under ``values`` a legacy-valid sample name is written as is, matching its HELP line."""
    registry = CollectorRegistry()
    Counter("a", "A.", registry=registry).inc()
    assert om(registry, "values") == lines("# HELP a A.", "# TYPE a counter", "a_total 1.0", "# EOF")


# -- custom collector families ------------------------------------------------------

def test_custom_families_of_openmetrics_types() -> None:
    """Gauge histograms, state sets, info, unknown and counter families map onto text types and OM types."""
    registry = CollectorRegistry()
    gh = GaugeHistogramMetricFamily("queue_wait", "Wait.", labels=["q"])
    gh.add_metric(["a"], [("1.0", 3), ("+Inf", 5)], 7.5)
    st = StateSetMetricFamily("feature", "Flags.", labels=["env"])
    st.add_metric(["prod"], {"b": True, "a": False})
    info = InfoMetricFamily("build", "Build.", value={"version": "1"})
    unknown = UnknownMetricFamily("legacy", "Old.", value=4)
    counter = CounterMetricFamily("jobs_total", "Jobs.", labels=["q"])
    counter.add_metric(["x"], 3, created=1600000000.5)
    registry.register(Families(gh, st, info, unknown, counter))
    assert text(registry) == lines(
        "# HELP queue_wait Wait.",
        "# TYPE queue_wait histogram",
        'queue_wait_bucket{le="1.0",q="a"} 3.0',
        'queue_wait_bucket{le="+Inf",q="a"} 5.0',
        "# HELP queue_wait_gcount Wait.",
        "# TYPE queue_wait_gcount gauge",
        'queue_wait_gcount{q="a"} 5.0',
        "# HELP queue_wait_gsum Wait.",
        "# TYPE queue_wait_gsum gauge",
        'queue_wait_gsum{q="a"} 7.5',
        "# HELP feature Flags.",
        "# TYPE feature gauge",
        'feature{env="prod",feature="a"} 0.0',
        'feature{env="prod",feature="b"} 1.0',
        "# HELP build_info Build.",
        "# TYPE build_info gauge",
        'build_info{version="1"} 1.0',
        "# HELP legacy Old.",
        "# TYPE legacy untyped",
        "legacy 4.0",
        "# HELP jobs_total Jobs.",
        "# TYPE jobs_total counter",
        'jobs_total{q="x"} 3.0',
        "# HELP jobs_created Jobs.",
        "# TYPE jobs_created gauge",
        'jobs_created{q="x"} 1.6000000005e+09',
    )
    assert om(registry) == lines(
        "# HELP queue_wait Wait.",
        "# TYPE queue_wait gaugehistogram",
        'queue_wait_bucket{le="1.0",q="a"} 3.0',
        'queue_wait_bucket{le="+Inf",q="a"} 5.0',
        'queue_wait_gcount{q="a"} 5.0',
        'queue_wait_gsum{q="a"} 7.5',
        "# HELP feature Flags.",
        "# TYPE feature stateset",
        'feature{env="prod",feature="a"} 0.0',
        'feature{env="prod",feature="b"} 1.0',
        "# HELP build Build.",
        "# TYPE build info",
        'build_info{version="1"} 1.0',
        "# HELP legacy Old.",
        "# TYPE legacy unknown",
        "legacy 4.0",
        "# HELP jobs Jobs.",
        "# TYPE jobs counter",
        'jobs_total{q="x"} 3.0',
        'jobs_created{q="x"} 1.6000000005e+09',
        "# EOF",
    )


def test_custom_families_with_timestamps_and_exemplars() -> None:
    """Timestamps are milliseconds in text and seconds in OM (``Timestamp`` keeps ns); exemplars are OM only."""
    registry = CollectorRegistry()
    g = GaugeMetricFamily("g", "G.", labels=["k"])
    g.add_metric(["float"], 1, timestamp=1700000000.5)
    g.add_metric(["ts"], 2, timestamp=Timestamp(1700000000, 5000000))
    g.add_metric(["zero"], 3, timestamp=0)
    c = CounterMetricFamily("c", "C.", labels=["k"])
    c.add_metric(["a"], 1, timestamp=12.5, exemplar=Exemplar({"t": "1"}, 0.5))
    c.add_metric(["b"], 2, exemplar=Exemplar({"t": "2"}, 1, Timestamp(12, 500)))
    h = HistogramMetricFamily("h", "H.", unit="seconds")
    h.add_metric([], [("0.5", 1, Exemplar({"id": "x"}, 0.25, 99.0)), ("+Inf", 2)], 1.5, timestamp=20)
    registry.register(Families(g, c, h))
    assert text(registry) == lines(
        "# HELP g G.",
        "# TYPE g gauge",
        'g{k="float"} 1.0 1700000000500',
        'g{k="ts"} 2.0 1700000000005',
        'g{k="zero"} 3.0 0',
        "# HELP c_total C.",
        "# TYPE c_total counter",
        'c_total{k="a"} 1.0 12500',
        'c_total{k="b"} 2.0',
        "# HELP h_seconds H.",
        "# TYPE h_seconds histogram",
        'h_seconds_bucket{le="0.5"} 1.0 20000',
        'h_seconds_bucket{le="+Inf"} 2.0 20000',
        "h_seconds_count 2.0 20000",
        "h_seconds_sum 1.5 20000",
    )
    assert om(registry) == lines(
        "# HELP g G.",
        "# TYPE g gauge",
        'g{k="float"} 1.0 1700000000.5',
        'g{k="ts"} 2.0 1700000000.005000000',
        'g{k="zero"} 3.0 0',
        "# HELP c C.",
        "# TYPE c counter",
        'c_total{k="a"} 1.0 12.5 # {t="1"} 0.5',
        'c_total{k="b"} 2.0 # {t="2"} 1.0 12.000000500',
        "# HELP h_seconds H.",
        "# TYPE h_seconds histogram",
        "# UNIT h_seconds seconds",
        'h_seconds_bucket{le="0.5"} 1.0 20 # {id="x"} 0.25 99.0',
        'h_seconds_bucket{le="+Inf"} 2.0 20',
        "h_seconds_count 2.0 20",
        "h_seconds_sum 1.5 20",
        "# EOF",
    )


def test_custom_family_with_utf8_name_and_no_labels() -> None:
    """Under ``allow-utf-8`` an unlabelled non-legacy sample is written as ``{"name"} value``."""
    registry = CollectorRegistry()
    registry.register(Families(GaugeMetricFamily("a.b", "Dotted.", value=1)))
    assert text(registry, "allow-utf-8") == lines('# HELP "a.b" Dotted.', '# TYPE "a.b" gauge', '{"a.b"} 1.0')
    assert om(registry, "allow-utf-8") == lines('# HELP "a.b" Dotted.', '# TYPE "a.b" gauge', '{"a.b"} 1.0', "# EOF")


def test_text_generate_latest_defaults_to_the_global_registry() -> None:
    """``generate_latest()`` without arguments renders ``REGISTRY``, as prometheus_client's does."""
    from pyrometer.registry import REGISTRY

    c = Counter("pyrometer_bytes_test_default_total", "D.")
    try:
        assert b"pyrometer_bytes_test_default_total 0.0\n" in generate_latest()
    finally:
        REGISTRY.unregister(c)
