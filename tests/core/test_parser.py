"""Tests for the Prometheus text format 0.0.4 parser (pyrometer.parser).

Expected families are spelled out for each feature; differential tests check
that pyrometer's parser returns what prometheus_client's returns, on a fixed
corpus and on random collectors rendered by prometheus_client's own writer.
"""

from __future__ import annotations

import io
import math
import re
from functools import partial
from typing import Any, List

import prometheus_client
import prometheus_client.parser as pc_parser
import pyrometer.parser as parser
import pyrometer.validation as validation
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
from pyrometer.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from pyrometer.parser import parse_labels, text_fd_to_metric_families, text_string_to_metric_families
from pyrometer.samples import Sample


def parse(text: str) -> List[Metric]:
    return list(text_string_to_metric_families(text))


pyrometer_outcome = partial(outcome, text_string_to_metric_families)
reference_outcome = partial(ref_outcome, pc_parser.text_string_to_metric_families)


# --- exact families ----------------------------------------------------------


def test_counter_total_suffix_moves_to_samples() -> None:
    """A counter TYPEd as x_total becomes family x whose samples keep the _total name."""
    got = parse("# HELP a_total Requests.\n# TYPE a_total counter\na_total{code=\"200\"} 3\n")
    expected = CounterMetricFamily("a", "Requests.", labels=["code"])
    expected.add_metric(["200"], 3)
    assert got == [expected]


def test_counter_without_total_gets_total_sample_names() -> None:
    """A counter TYPEd without _total keeps its name and its samples gain _total."""
    assert parse("# TYPE a counter\na 1.5\n") == [metric("a", "", "counter", Sample("a_total", {}, 1.5))]


def test_gauge_and_untyped() -> None:
    """Gauges keep their type; untyped families become unknown."""
    got = parse("# TYPE g gauge\ng 1\n# HELP u Some.\n# TYPE u untyped\nu 2\n")
    assert got == [GaugeMetricFamily("g", "", value=1), metric("u", "Some.", "unknown", Sample("u", {}, 2))]


def test_summary_family() -> None:
    """Quantile, _sum and _count samples stay in one summary family."""
    text = (
        "# HELP s A summary.\n# TYPE s summary\n"
        's{quantile="0.5"} 4\ns{quantile="0.9"} 5\ns_sum 12.5\ns_count 3\n'
    )
    assert parse(text) == [metric(
        "s", "A summary.", "summary",
        Sample("s", {"quantile": "0.5"}, 4), Sample("s", {"quantile": "0.9"}, 5),
        Sample("s_sum", {}, 12.5), Sample("s_count", {}, 3),
    )]


def test_histogram_family() -> None:
    """Buckets, _count and _sum form one histogram family with label order preserved."""
    text = (
        "# TYPE h histogram\n"
        'h_bucket{a="x",le="1.0"} 0\nh_bucket{a="x",le="+Inf"} 2\nh_count{a="x"} 2\nh_sum{a="x"} 3.5\n'
    )
    expected = HistogramMetricFamily("h", "", labels=["a"])
    expected.add_metric(["x"], [("1.0", 0), ("+Inf", 2)], 3.5)
    assert parse(text) == [expected]
    assert list(parse(text)[0].samples[0].labels) == ["a", "le"]


def test_created_gsum_gcount_are_separate_families() -> None:
    """_created, _gsum and _gcount samples are written as their own gauges and parse as such."""
    text = (
        "# TYPE c_total counter\nc_total 1\n# HELP c_created x\n# TYPE c_created gauge\nc_created 1.7e9\n"
        "# TYPE g histogram\ng_bucket{le=\"+Inf\"} 1\n# TYPE g_gcount gauge\ng_gcount 1\n"
        "# TYPE g_gsum gauge\ng_gsum -2\n"
    )
    assert parse(text) == [
        metric("c", "", "counter", Sample("c_total", {}, 1)),
        metric("c_created", "x", "gauge", Sample("c_created", {}, 1.7e9)),
        metric("g", "", "histogram", Sample("g_bucket", {"le": "+Inf"}, 1)),
        metric("g_gcount", "", "gauge", Sample("g_gcount", {}, 1)),
        metric("g_gsum", "", "gauge", Sample("g_gsum", {}, -2)),
    ]


def test_info_and_stateset_types_are_kept() -> None:
    """TYPE info / stateset / gaugehistogram lines produce families of that type."""
    text = '# TYPE i info\ni{v="1"} 1\n# TYPE s stateset\ns{s="a"} 1\n# TYPE gh gaugehistogram\ngh 2\n'
    assert parse(text) == [
        metric("i", "", "info", Sample("i", {"v": "1"}, 1)),
        metric("s", "", "stateset", Sample("s", {"s": "a"}, 1)),
        metric("gh", "", "gaugehistogram", Sample("gh", {}, 2)),
    ]


def test_label_value_escapes() -> None:
    """Backslash, quote and newline escapes are decoded; unknown escapes stay literal."""
    got = parse('m{a="x\\\\y",b="say \\"hi\\"",c="l1\\nl2",d="\\t",e="}{,="} 1\n')
    assert got[0].samples[0].labels == {"a": "x\\y", "b": 'say "hi"', "c": "l1\nl2", "d": "\\t", "e": "}{,="}


def test_special_float_values() -> None:
    """+Inf, -Inf and NaN values parse to floats; integer literals to ints."""
    samples = parse("a +Inf\nb -Inf\nc NaN\nd 7\ne 1e3\n")
    values = [m.samples[0].value for m in samples]
    assert values[:2] == [math.inf, -math.inf]
    assert math.isnan(values[2])
    assert values[3] == 7 and isinstance(values[3], int)
    assert values[4] == 1000.0 and isinstance(values[4], float)


def test_timestamps_are_milliseconds() -> None:
    """Timestamps in milliseconds become float seconds."""
    got = parse("a 1 1500\nb{x=\"y\"} 2 -3\n")
    assert got[0].samples[0].timestamp == 1.5
    assert got[1].samples[0].timestamp == -0.003
    assert isinstance(got[0].samples[0].timestamp, float)


def test_help_escaping() -> None:
    """HELP decodes \\\\ and \\n only; \\" stays as written."""
    got = parse('# HELP a one\\\\two\\nthree \\"q\\"\n# TYPE a gauge\na 1\n')
    assert got[0].documentation == 'one\\two\nthree \\"q\\"'


def test_comments_blank_lines_and_whitespace() -> None:
    """Plain comments, blank lines and surrounding whitespace are ignored."""
    text = "\n# just a comment\n  # TYPE a gauge  \n\n\ta{ b = \"c\" , } 1  \n#\n"
    assert parse(text) == [metric("a", "", "gauge", Sample("a", {"b": "c"}, 1))]


def test_utf8_quoted_names() -> None:
    """Quoted metric and label names inside the braces are decoded."""
    text = '# HELP "my.metric" Doc.\n# TYPE "my.metric" gauge\n{"my.metric","a.b"="c",d="e"} 1\n'
    assert parse(text) == [metric("my.metric", "Doc.", "gauge", Sample("my.metric", {"a.b": "c", "d": "e"}, 1))]


def test_untyped_samples_are_singleton_families() -> None:
    """Each sample outside a HELP/TYPE family is yielded as its own unknown family."""
    assert parse("a 1\na 2\n") == [metric("a", "", "unknown", Sample("a", {}, 1)),
                                   metric("a", "", "unknown", Sample("a", {}, 2))]


def test_fd_interface_and_laziness() -> None:
    """text_fd_to_metric_families reads file objects and yields families before later errors."""
    families = text_fd_to_metric_families(io.StringIO("# TYPE a gauge\na 1\n# TYPE b gauge\nb{ 2\n"))
    assert next(iter(families)) == GaugeMetricFamily("a", "", value=1)
    with pytest.raises(ValueError, match="b\\{ 2"):
        list(families)


def test_legacy_validation_rejects_utf8_family_names() -> None:
    """With legacy name validation on, a UTF-8 family name is an error naming its line."""
    was_legacy = validation.get_legacy_validation()
    validation.enable_legacy_validation()
    try:
        with pytest.raises(ValueError, match=r"line 1: '\{\"my\.metric\"\} 1'"):
            parse('{"my.metric"} 1\n')
    finally:
        if not was_legacy:
            validation.disable_legacy_validation()


def test_parse_labels_helper() -> None:
    """parse_labels decodes a brace body and reports bad input as 'Invalid labels'."""
    assert parse_labels('a="1", "b.c"="2\\n"') == {"a": "1", "b.c": "2\n"}
    assert parse_labels('"name",x="y",') == {"__name__": "name", "x": "y"}
    with pytest.raises(ValueError, match="Invalid labels"):
        parse_labels('a="1",', openmetrics=True)


def test_replace_escape_sequence_helper() -> None:
    """replace_escape_sequence maps a regex match of an escape to its character."""
    assert parser.ESCAPING_RE.sub(parser.replace_escape_sequence, 'a\\\\b\\"c\\nd') == 'a\\b"c\nd'


# --- malformed input ---------------------------------------------------------

MALFORMED = [
    'a{b="c" 1',
    'a{b="c"',
    "a{b=c} 1",
    'a{b="c",,d="e"} 1',
    'a{b="c",b="d"} 1',
    'a{__b="c"} 1',
    'a{b="c"d="e"} 1',
    'a{b="unterminated} 1',
    "a",
    "a x",
    "a 1_000",
    "a 1 2 3",
    "a 1 ts",
    "1a 2",
    "a-b 1",
    '"a.b"{x="y"} 1',
    "{} 1",
    'a{__name__="b"} 1',
    "# TYPE a",
    "# TYPE a bogus",
    "# HELP",
    "# HELP a.b doc",
    '# TYPE "a"b gauge',
]


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_line_raises_with_line_text(bad: str) -> None:
    """Each malformed line raises ValueError whose message quotes the line and its number."""
    text = "# TYPE ok gauge\nok 1\n" + bad + "\n"
    with pytest.raises(ValueError) as info:
        list(text_string_to_metric_families(text))
    assert bad in str(info.value)
    assert "line 3" in str(info.value)


# --- differential: fixed corpus ------------------------------------------------

CORPUS = [
    "",
    "\n\n",
    "a 1\n",
    "# HELP a Doc.\n# TYPE a counter\na 1\n",
    '# TYPE a_total counter\na_total{x="1"} 1 1000\na_total{x="2"} 2 2000\n',
    "# TYPE a counter\na_total 1\n",
    '# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 2\ns_count 3\ns_created 4\n',
    '# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 0.3\nh_count 2\n',
    '# HELP g tricky \\\\ \\n "doc"\n# TYPE g gauge\ng{a="\\\\",b="\\"",c="\\n"} -Inf 12\n',
    "# HELP g first\n# HELP g second\n# TYPE g gauge\ng 1\n# TYPE g counter\ng 2\n",
    '# TYPE "a.b" gauge\n{"a.b","c.d"="e"} NaN\n{"a.b"} +Inf\n',
    "# comment one\n#HELP x y\n# TYPE x gauge\nx 1\n# other\nx 2\n",
    'a{b="c",} 1\na{,b="c"} 1\na{ b = "c" } 1\na {b="c"} 1\na{} 1\n',
    "a 1e3\nb -0.0\nc 0x0\n",
    "a\t1\t2\nb 1\t2\n",
    '{__name__="x",y="z"} 1\n',
    "# TYPE x gauge\nx 1\ny 2\nx 3\n",
    '# TYPE u untyped\nu{a="é😀"} 1\n',
    "# TYPE a gauge\n# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_sum 1\na_count 1\na 3\n",
    'a{b="c:d",e="{}"} 1 -1\n',
    'a{b=",c",d="=",e=",",g="} 1"} 1\n',
    'a{b=",c",d="=",e=",",f="\\",g="} 1",h="\\",i="a=\\"b\\",c"} 1\n',
    "# TYPE a:b gauge\na:b{c:d=\"1\"} 1\n",
    "# TYPE a foo\n",
    "a{b=\"c\" 1\n",
]


@pytest.mark.parametrize("text", CORPUS)
def test_corpus_matches_prometheus_client(text: str) -> None:
    """pyrometer's parser returns what prometheus_client's does (or raises when it raises)."""
    assert pyrometer_outcome(text) == reference_outcome(text)


# --- differential: random collectors rendered by prometheus_client -------------

LABEL_NAMES = st.lists(
    st.one_of(LEGACY, UTF8).filter(lambda s: not s.startswith("__") and s not in ("le", "quantile")),
    max_size=3, unique=True)
TIMESTAMP = st.one_of(st.none(), st.floats(-1e9, 4e9, allow_nan=False))


@st.composite
def rendered_text(draw: Any) -> str:
    """Text rendered by prometheus_client from random custom-collector families."""
    families = []
    for i in range(draw(st.integers(1, 4))):
        name = f"m{i}" + draw(st.one_of(st.just(""), st.from_regex(r"[._a-z]{1,4}", fullmatch=True)))
        labels = draw(LABEL_NAMES)
        doc = draw(TEXT)
        kind = draw(st.sampled_from(["counter", "gauge", "summary", "histogram", "info", "stateset", "unknown"]))
        family = PC_FAMILIES[kind](name, doc, labels=labels)
        for _ in range(draw(st.integers(0, 3))):
            values = [draw(TEXT) for _ in labels]
            ts = draw(TIMESTAMP)
            if kind == "counter":
                family.add_metric(values, draw(VALUE), created=draw(st.one_of(st.none(), VALUE)), timestamp=ts)
            elif kind == "summary":
                family.add_metric(values, draw(st.integers(0, 99)), draw(VALUE), timestamp=ts)
            elif kind == "histogram":
                family.add_metric(values, [("1.0", 1), ("+Inf", draw(st.integers(1, 9)))], draw(VALUE), timestamp=ts)
            elif kind == "info":
                family.add_metric(values, {"version": draw(TEXT)}, timestamp=ts)
            elif kind == "stateset":
                family.add_metric(values, {draw(TEXT): draw(st.booleans())}, timestamp=ts)
            else:
                family.add_metric(values, draw(VALUE), timestamp=ts)
        families.append(family)
    registry = prometheus_client.CollectorRegistry()
    registry.register(Families(*families))  # type: ignore[arg-type]
    escaping = draw(st.sampled_from(["underscores", "allow-utf-8"]))
    return prometheus_client.generate_latest(registry, escaping=escaping).decode("utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rendered_text())
def test_random_exposition_matches_prometheus_client(text: str) -> None:
    """For any collector output of prometheus_client's writer, both parsers agree exactly."""
    expected = reference_outcome(text)
    assume(expected is not REFERENCE_CRASH)
    assert pyrometer_outcome(text) == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(re.findall(r"[^\n]*\n", "".join(CORPUS[2:-2]))), max_size=8))
def test_shuffled_corpus_lines_match_prometheus_client(lines: List[str]) -> None:
    """Corpus lines recombined in any order parse identically in both parsers."""
    text = "".join(lines)
    assert pyrometer_outcome(text) == reference_outcome(text)
