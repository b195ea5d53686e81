"""Tests for the OpenMetrics 1.0.0 text parser (pyrometer.openmetrics.parser).

Expected families are spelled out for each feature; differential tests check
that pyrometer's parser returns what prometheus_client's returns, on a fixed
corpus and on random collectors rendered by prometheus_client's own writer.
"""

from __future__ import annotations

import io
import math
from functools import partial
from typing import Any, List, Tuple

import prometheus_client
import prometheus_client.metrics_core as pc_core
import prometheus_client.openmetrics.exposition as pc_om
import prometheus_client.openmetrics.parser as pc_parser
import prometheus_client.samples as pc_samples
import pytest
from exposition_helpers import Families
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from parser_helpers import (
    LEGACY,
    PC_FAMILIES,
    REFERENCE_CRASH,
    TEXT,
    UTF8,
    VALUE,
    metric,
    outcome,
)
from parser_helpers import reference_outcome as ref_outcome
from prometheus_client.utils import floatToGoString
from pyrometer.metrics_core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
)
from pyrometer.openmetrics.parser import text_fd_to_metric_families, text_string_to_metric_families
from pyrometer.samples import BucketSpan, Exemplar, NativeHistogram, Sample, Timestamp


def parse(text: str) -> List[Metric]:
    return list(text_string_to_metric_families(text))


pyrometer_outcome = partial(outcome, text_string_to_metric_families)
reference_outcome = partial(ref_outcome, pc_parser.text_string_to_metric_families)


# --- exact families ----------------------------------------------------------


def test_counter_with_created_and_exemplar() -> None:
    """A counter keeps _total/_created samples and the exemplar on _total."""
    text = (
        "# HELP c Requests.\n# TYPE c counter\n"
        'c_total{code="200"} 3 # {trace_id="abc"} 1.5 1520879607.789\n'
        'c_created{code="200"} 1520430000.123\n# EOF\n'
    )
    expected = CounterMetricFamily("c", "Requests.", labels=["code"])
    expected.add_metric(["200"], 3, created=1520430000.123)
    expected.samples[0] = expected.samples[0]._replace(
        exemplar=Exemplar({"trace_id": "abc"}, 1.5, Timestamp(1520879607, 789000000)))
    assert parse(text) == [expected]


def test_gauge_with_unit() -> None:
    """UNIT is kept when it is the suffix of the family name."""
    text = "# TYPE t_seconds gauge\n# UNIT t_seconds seconds\n# HELP t_seconds Time.\nt_seconds 2.5\n# EOF\n"
    assert parse(text) == [GaugeMetricFamily("t", "Time.", value=2.5, unit="seconds")]


def test_summary_family() -> None:
    """Quantiles, _count, _sum and _created form one summary family."""
    text = (
        "# TYPE s summary\n"
        's{quantile="0.5"} 4\ns{quantile="1"} 5\ns_count 3\ns_sum 12.5\ns_created 1.0\n# EOF\n'
    )
    assert parse(text) == [metric(
        "s", "", "summary",
        Sample("s", {"quantile": "0.5"}, 4), Sample("s", {"quantile": "1"}, 5),
        Sample("s_count", {}, 3), Sample("s_sum", {}, 12.5), Sample("s_created", {}, 1.0),
    )]


def test_histogram_with_bucket_exemplars() -> None:
    """Histogram buckets carry exemplars; _count, _sum and _created stay in the family."""
    text = (
        "# TYPE h histogram\n"
        'h_bucket{le="0.5"} 1 # {id="x"} 0.25\nh_bucket{le="+Inf"} 2\nh_count 2\nh_sum 0.75\nh_created 10\n# EOF\n'
    )
    expected = HistogramMetricFamily("h", "")
    expected.add_metric([], [("0.5", 1, Exemplar({"id": "x"}, 0.25)), ("+Inf", 2)], 0.75)
    expected.add_sample("h_created", {}, 10)
    assert parse(text) == [expected]


def test_gaugehistogram_family() -> None:
    """A gauge histogram has buckets, _gcount and _gsum."""
    text = (
        "# TYPE g gaugehistogram\n"
        'g_bucket{le="-1"} 1\ng_bucket{le="+Inf"} 3\ng_gcount 3\ng_gsum -4\n# EOF\n'
    )
    assert parse(text) == [GaugeHistogramMetricFamily("g", "", buckets=[("-1", 1), ("+Inf", 3)], gsum_value=-4)]


def test_stateset_and_info() -> None:
    """Stateset and info families parse with their label conventions."""
    text = (
        '# TYPE s stateset\ns{s="a"} 1\ns{s="b"} 0\n'
        '# TYPE i info\ni_info{version="1.2"} 1\n# EOF\n'
    )
    assert parse(text) == [
        StateSetMetricFamily("s", "", value={"a": True, "b": False}),
        InfoMetricFamily("i", "", value={"version": "1.2"}),
    ]


def test_unknown_and_implicit_families() -> None:
    """Samples without metadata form unknown families; TYPE unknown is accepted."""
    text = '# TYPE u unknown\nu 1\nv{a="1"} 2\nv{a="2"} 3\n# EOF\n'
    assert parse(text) == [metric("u", "", "unknown", Sample("u", {}, 1)),
                           metric("v", "", "unknown", Sample("v", {"a": "1"}, 2), Sample("v", {"a": "2"}, 3))]


def test_escapes_in_labels_and_help() -> None:
    """Label values and HELP decode \\\\, \\" and \\n; other escapes stay literal."""
    text = '# HELP a x\\\\y \\"q\\" \\n \\t\n# TYPE a gauge\na{b="\\\\",c="\\"",d="\\n",e="\\t"} 1\n# EOF\n'
    got = parse(text)[0]
    assert got.documentation == 'x\\y "q" \n \\t'
    assert got.samples[0].labels == {"b": "\\", "c": '"', "d": "\n", "e": "\\t"}


def test_special_float_values() -> None:
    """+Inf, -Inf and NaN gauge values parse to floats; integer literals to ints."""
    text = '# TYPE g gauge\ng{a="1"} +Inf\ng{a="2"} -Inf\ng{a="3"} NaN\ng{a="4"} 7\n# EOF\n'
    values = [s.value for s in parse(text)[0].samples]
    assert values[:2] == [math.inf, -math.inf] and math.isnan(values[2])
    assert values[3] == 7 and isinstance(values[3], int)


def test_timestamp_forms() -> None:
    """Integer and decimal timestamps become Timestamp (ns truncated); exponent forms stay floats."""
    text = (
        '# TYPE g gauge\ng{a="1"} 1 10\ng{a="2"} 1 1.5\ng{a="3"} 1 1.1234567891\n'
        'g{a="4"} 1 1e3\ng{a="5"} 1 -1.5\n# EOF\n'
    )
    stamps = [s.timestamp for s in parse(text)[0].samples]
    assert stamps == [Timestamp(10, 0), Timestamp(1, 500000000), Timestamp(1, 123456789), 1000.0,
                      Timestamp(-1, 500000000)]
    assert isinstance(stamps[3], float)


def test_utf8_quoted_names() -> None:
    """Quoted metric names in metadata and braces, and quoted label names, are decoded."""
    text = (
        '# TYPE "my.counter" counter\n# HELP "my.counter" Dotted.\n'
        '{"my.counter_total","a.b"="c"} 1\n# EOF\n'
    )
    assert parse(text) == [metric("my.counter", "Dotted.", "counter", Sample("my.counter_total", {"a.b": "c"}, 1))]


def test_repeated_point_is_dropped() -> None:
    """A sample repeating the previous series and timestamp in its group is dropped."""
    text = "# TYPE c counter\nc_total 1 5\nc_total 2 5\nc_total 3 6\n# EOF\n"
    assert [s.value for s in parse(text)[0].samples] == [1, 3]


def test_native_histogram() -> None:
    """Histogram families accept native-histogram samples, with or without labels."""
    text = (
        "# TYPE n histogram\n"
        "n {count:24,sum:100,schema:0,zero_threshold:0.001,zero_count:4,"
        "positive_spans:[0:2,1:2],positive_deltas:[2,1,-3,3]}\n"
        'n{a="b"} {count:1,sum:1.5,schema:3,zero_threshold:0,zero_count:0}\n# EOF\n'
    )
    first, second = parse(text)[0].samples
    assert first == Sample("n", None, None, None, None, NativeHistogram(  # type: ignore[arg-type]
        24, 100.0, 0, 0.001, 4, pos_spans=(BucketSpan(0, 2), BucketSpan(1, 2)), pos_deltas=(2, 1, -3, 3)))
    assert second.labels == {"a": "b"} and second.native_histogram == NativeHistogram(1, 1.5, 3, 0.0, 0)


def test_fd_interface_and_laziness() -> None:
    """text_fd_to_metric_families yields complete families before reporting a missing # EOF."""
    families = iter(text_fd_to_metric_families(io.StringIO("# TYPE a gauge\na 1\n")))
    assert next(families) == GaugeMetricFamily("a", "", value=1)
    with pytest.raises(ValueError, match="Missing # EOF"):
        next(families)


# --- malformed input ---------------------------------------------------------

MALFORMED: List[Tuple[str, str]] = [
    ("a 1\n", "a 1"),
    ("a 1\n# EOF\nb 2\n", "b 2"),
    ("a 1\n# EOF\n\n", "line 3"),
    ("a 1\n\n# EOF\n", "line 2"),
    ("# TYPE a gauge\n# TYPE a gauge\n# EOF\n", "# TYPE a gauge"),
    ("# TYPE a untyped\n# EOF\n", "# TYPE a untyped"),
    ("# TYPE a gauge\na 1\n# HELP a late\n# EOF\n", "# HELP a late"),
    ("# HELP a\n# EOF\n", "# HELP a"),
    ("# FOO a b\n# EOF\n", "# FOO a b"),
    ("# TYPE a counter\na_total -1\n# EOF\n", "a_total -1"),
    ("# TYPE a counter\na_total NaN\n# EOF\n", "a_total NaN"),
    ('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="0.5"} 3\n# EOF\n', 'h_bucket{le="0.5"} 3'),
    ('# TYPE h histogram\nh_bucket{le="1"} 2\nh_count 2\nh_sum 1\n# EOF\n', "h_sum 1"),
    ('# TYPE h histogram\nh_bucket{le="inf"} 2\n# EOF\n', 'h_bucket{le="inf"} 2'),
    ('# TYPE h histogram\nh_bucket{le="+Inf"} 1.5\n# EOF\n', 'h_bucket{le="+Inf"} 1.5'),
    ('# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 3\nh_sum 1\n# EOF\n', "h_sum 1"),
    ('# TYPE g gauge\ng{a="1"} 1\ng{a="2"} 1\ng{a="1"} 2\n# EOF\n', 'g{a="1"} 2'),
    ("# TYPE g gauge\ng 1 2\ng 1\n# EOF\n", "g 1"),
    ("# TYPE g gauge\ng 1 2\ng 1 1\n# EOF\n", "g 1 1"),
    ("# TYPE g gauge\ng 1 10\ng 2 1e0\n# EOF\n", "g 2 1e0"),
    ("# TYPE g gauge\ng 1 # {a=\"b\"} 1\n# EOF\n", 'g 1 # {a="b"} 1'),
    ("# TYPE c counter\nc_total 1 # {a=\"" + "x" * 130 + "\"} 1\n# EOF\n", "c_total 1 # {a="),
    ("# TYPE c counter\nc_total 1 #{a=\"b\"} 1\n# EOF\n", 'c_total 1 #{a="b"} 1'),
    ("# TYPE s stateset\ns{s=\"a\"} 2\n# EOF\n", 's{s="a"} 2'),
    ("# TYPE s stateset\ns 1\n# EOF\n", "s 1"),
    ("# TYPE i info\ni_info 2\n# EOF\n", "i_info 2"),
    ('# TYPE q summary\nq{quantile="1.5"} 1\n# EOF\n', 'q{quantile="1.5"} 1'),
    ("# TYPE a gauge\n# UNIT a seconds\na 1\n# EOF\n", "# UNIT a seconds"),
    ("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n# EOF\n", "# TYPE a gauge"),
    ("# TYPE a counter\na_total 1\n# TYPE a_total gauge\n# EOF\n", "# TYPE a_total gauge"),
    ('a{b="c",} 1\n# EOF\n', 'a{b="c",} 1'),
    ('a {b="c"} 1\n# EOF\n', 'a {b="c"} 1'),
    ("a  1\n# EOF\n", "a  1"),
    ("a 1 \n# EOF\n", "a 1 "),
    ("a 1 +Inf\n# EOF\n", "a 1 +Inf"),
    ('a{b="c"}1\n# EOF\n', 'a{b="c"}1'),
]


@pytest.mark.parametrize(("text", "bad"), MALFORMED)
def test_malformed_input_raises_naming_the_line(text: str, bad: str) -> None:
    """Each rule violation raises ValueError whose message contains the offending line."""
    with pytest.raises(ValueError) as info:
        list(text_string_to_metric_families(text))
    assert bad in str(info.value)


# --- differential: fixed corpus ------------------------------------------------

CORPUS = [
    "# EOF\n",
    "# EOF",
    "a 1\n# EOF\n",
    "# HELP a Doc \\\\ \\\" \\n \\q\n# TYPE a counter\na_total 1 1.5\na_created 1.0 1.5\n# EOF\n",
    '# TYPE h histogram\n# UNIT h_seconds seconds\n# EOF\n',
    '# TYPE h_seconds histogram\n# UNIT h_seconds seconds\nh_seconds_bucket{a="1",le="0.1"} 0 # {} 0.05\n'
    'h_seconds_bucket{a="1",le="+Inf"} 2 # {t="x"} 7 12.25\nh_seconds_count{a="1"} 2\nh_seconds_sum{a="1"} 7.1\n'
    'h_seconds_bucket{a="2",le="+Inf"} 0\n# EOF\n',
    '# TYPE g gaugehistogram\ng_bucket{le="-2"} 1\ng_bucket{le="+Inf"} 1\ng_gcount 1\ng_gsum -3\n# EOF\n',
    '# TYPE s summary\ns{quantile="0"} 0\ns{quantile="0.99"} 1.5e3\ns_count 2\ns_sum 3\ns_created 0\n# EOF\n',
    '# TYPE st stateset\nst{st="a",x="1"} 1\nst{st="b",x="1"} 0\nst{st="a",x="2"} 0\n# EOF\n',
    '# TYPE i info\n# HELP i Build.\ni_info{v="1"} 1 5\ni_info{v="2"} 1 4\n# EOF\n',
    '# TYPE "a.b" gauge\n# HELP "a.b" Dotted "doc".\n{"a.b","c.d"="e",f="\\""} NaN\n# EOF\n',
    '# TYPE t gauge\nt{a="1"} 1 1e3\nt{a="2"} 1 1.0000000001\nt{a="3"} 2 -0.5\n# EOF\n',
    "# TYPE t gauge\nt 1 5\nt 2 5\nt 3 5\n# EOF\n",
    "# TYPE c counter\nc_total{a=\"x\"} 1 # {a=\"b\",c=\"d\"} 1 1.5\nc_total{a=\"y\"} +Inf\n# EOF\n",
    "a 1\nb 2\na 3\n# EOF\n",
    'a{b=",c",d="=",e=",",g="} 1"} 1\n# EOF\n',
    'a{b=",c",d="=",e=",",f="\\",g="} 1",h="\\",i="a=\\"b\\",c"} 1\n# EOF\n',
    "# HELP a \n# HELP b  doc\n# UNIT c \n# EOF\n",
    "#x HELP a doc\na 1\n# EOF\n",
    '# TYPE n histogram\nn {count:2,sum:1.5,schema:1,zero_threshold:0.1,zero_count:1,negative_spans:[0:1],'
    'negative_deltas:[1]}\n{"n"} {count:0,sum:0,schema:0,zero_threshold:0,zero_count:0}\n# EOF\n',
    "a 1_0\n# EOF\n",
    "# TYPE a foo\n# EOF\n",
    '# TYPE h histogram\nh_bucket{le="1"} 0\nh_bucket{le="NaN"} 0\n# EOF\n',
]


@pytest.mark.parametrize("text", CORPUS)
def test_corpus_matches_prometheus_client(text: str) -> None:
    """pyrometer's parser returns what prometheus_client's does (or raises when it raises)."""
    assert pyrometer_outcome(text) == reference_outcome(text)


# --- differential: random collectors rendered by prometheus_client -------------

LEGACY_LABEL = LEGACY.filter(lambda s: not s.startswith("__"))
LABEL_NAMES = st.lists(st.one_of(LEGACY_LABEL, UTF8).filter(lambda s: s not in ("le", "quantile")),
                       max_size=2, unique=True)
AMOUNT = st.one_of(st.integers(0, 10**12), st.floats(0, 1e300), st.just(math.inf))
TIMESTAMP = st.one_of(
    st.none(),
    st.floats(-1e9, 4e9, allow_nan=False),
    st.builds(pc_samples.Timestamp, st.integers(0, 4 * 10**9), st.integers(0, 10**9 - 1)),
)
# prometheus_client's exemplar reader cannot handle an escaped quote, so none are drawn.
EXEMPLAR = st.one_of(st.none(), st.builds(
    pc_samples.Exemplar,
    st.dictionaries(LEGACY_LABEL,
                    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='"'), max_size=8),
                    max_size=2),
    VALUE, TIMESTAMP))
UNIT = st.sampled_from(["", "", "seconds", "bytes"])


@st.composite
def buckets(draw: Any, negative: bool) -> List[Tuple[str, int, Any]]:
    low = -100.0 if negative else 0.0
    bounds = sorted(set(draw(st.lists(st.floats(low, 100), max_size=3))))
    total, out = 0, []
    for bound in [*bounds, math.inf]:
        total += draw(st.integers(0, 5))
        out.append((floatToGoString(bound), total, draw(EXEMPLAR)))
    return out


def _add_series(draw: Any, kind: str, family: Any, name: str, values: List[str]) -> None:
    ts = draw(TIMESTAMP)
    if kind == "counter":
        family.add_metric(values, draw(AMOUNT), created=draw(st.one_of(st.none(), AMOUNT)), timestamp=ts,
                          exemplar=draw(EXEMPLAR))
    elif kind == "summary":
        labels = dict(zip(family._labelnames, values))
        for q in sorted(draw(st.sets(st.sampled_from(["0", "0.5", "0.99", "1"]), max_size=2))):
            family.add_sample(name, {**labels, "quantile": q}, draw(AMOUNT), ts)
        family.add_metric(values, draw(st.integers(0, 99)), draw(AMOUNT), timestamp=ts)
    elif kind == "histogram":
        bs = draw(buckets(negative=False))
        family.add_metric(values, bs, draw(st.one_of(st.none(), AMOUNT)), timestamp=ts)
    elif kind == "gaugehistogram":
        bs = draw(buckets(negative=True))
        gsum = draw(VALUE) if float(bs[0][0]) < 0 else draw(AMOUNT)
        family.add_metric(values, [b[:2] for b in bs], gsum, timestamp=ts)
    elif kind == "info":
        family.add_metric(values, {"version": draw(TEXT)}, timestamp=ts)
    elif kind == "stateset":
        family.add_metric(values, {draw(TEXT): draw(st.booleans())}, timestamp=ts)
    else:
        family.add_metric(values, draw(VALUE), timestamp=ts)


@st.composite
def rendered_openmetrics(draw: Any) -> str:
    """OpenMetrics rendered by prometheus_client from random custom-collector families."""
    families = []
    for i in range(draw(st.integers(1, 4))):
        name = f"m{i}" + draw(st.one_of(st.just(""), st.from_regex(r"[._a-z]{1,4}", fullmatch=True)))
        kind = draw(st.sampled_from(sorted(PC_FAMILIES)))
        labels = draw(LABEL_NAMES)
        kwargs = {"labels": labels}
        if kind not in ("info", "stateset"):
            kwargs["unit"] = draw(UNIT)
        family = PC_FAMILIES[kind](name, draw(TEXT), **kwargs)
        seen = set()
        for _ in range(draw(st.integers(0, 3))):
            values = [draw(TEXT) for _ in labels]
            if tuple(values) not in seen:  # a repeated label set is an interleaving error
                seen.add(tuple(values))
                _add_series(draw, kind, family, family.name, values)
        families.append(family)
    if draw(st.booleans()):
        nh = pc_core.Metric(f"n{draw(st.integers(0, 9))}", "Native.", "histogram")
        spans = draw(st.lists(st.builds(pc_samples.BucketSpan, st.integers(0, 3), st.integers(1, 3)), max_size=2))
        deltas = [draw(st.integers(-5, 5)) for span in spans for _ in range(span.length)]
        value = pc_samples.NativeHistogram(
            draw(st.integers(0, 99)), draw(st.floats(0, 1e6)), draw(st.integers(-4, 8)), draw(st.floats(0, 1)),
            draw(st.integers(0, 9)), pos_spans=spans or None, pos_deltas=deltas or None)
        nh.add_sample(nh.name, draw(st.sampled_from([{}, {"a": "b"}])), None, native_histogram=value)
        families.append(nh)
    registry = prometheus_client.CollectorRegistry()
    registry.register(Families(*families))  # type: ignore[arg-type]
    escaping = draw(st.sampled_from([pc_om.UNDERSCORES, pc_om.ALLOWUTF8]))
    return pc_om.generate_latest(registry, escaping=escaping, version="2.0.0").decode("utf-8")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rendered_openmetrics())
def test_random_exposition_matches_prometheus_client(text: str) -> None:
    """For any collector output of prometheus_client's writer, both parsers agree exactly."""
    expected = reference_outcome(text)
    assume(expected is not REFERENCE_CRASH)
    assert pyrometer_outcome(text) == expected
