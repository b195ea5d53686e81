"""What pyrometer writes, its parsers read back to the same families."""

from __future__ import annotations

import math
import re

import pytest
from pyrometer import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary, generate_latest
from pyrometer import parser as text_parser
from pyrometer.openmetrics import exposition as om_exposition
from pyrometer.openmetrics import parser as om_parser


class _Replay:
    def __init__(self, families):
        self._families = list(families)

    def collect(self):
        return self._families


def _registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    c = Counter("rt_requests_total", "Requests.\nSecond line \\ with backslash", ["method", "path"], registry=reg)
    c.labels("GET", '/a"b\\c\nd').inc(3)
    c.labels("POST", "/").inc(1.5, exemplar={"trace_id": "abc123"})
    Counter("rt_bytes", "Bytes.", registry=reg, unit="bytes").inc(1e7)
    g = Gauge("rt_temperature", "Temp.", ["room"], registry=reg)
    g.labels("lab").set(-3.25)
    g.labels("void").set(float("inf"))
    g.labels("nan").set(float("nan"))
    Summary("rt_size", "Sizes.", registry=reg).observe(512)
    h = Histogram("rt_latency_seconds", "Latency.", ["zone"], buckets=(0.1, 1, 2e6), registry=reg)
    h.labels("eu").observe(0.05, exemplar={"trace_id": "t1"})
    h.labels("eu").observe(7)
    Info("rt_build", "Build.", registry=reg).info({"version": "1.2", "commit": "x\"y"})
    Enum("rt_state", "State.", states=["a", "b"], registry=reg).state("b")
    return reg


def _exemplar_times_as_numbers(body: bytes) -> bytes:
    """Exemplar timestamps come back as Timestamp(sec, nsec); ``1.5`` and ``1.500000000`` are the same instant."""
    return re.sub(rb"( # \{[^}]*\} \S+) (\S+)\n", lambda m: m[1] + b" " + repr(float(m[2])).encode() + b"\n", body)


def _plain(samples):
    """Name, labels and value (NaN made comparable), the part both formats carry."""
    return [(s.name, s.labels, "nan" if isinstance(s.value, float) and math.isnan(s.value) else float(s.value))
            for s in samples]


@pytest.mark.parametrize("fmt", ["text", "openmetrics"])
def test_write_parse_write_is_a_fixpoint(fmt):
    """Parsing an exposition and writing the parsed families again gives the same bytes."""
    reg = _registry()
    write = generate_latest if fmt == "text" else om_exposition.generate_latest
    parse = text_parser.text_string_to_metric_families if fmt == "text" \
        else om_parser.text_string_to_metric_families
    first = write(reg)
    again = CollectorRegistry()
    again.register(_Replay(parse(first.decode())))
    assert _exemplar_times_as_numbers(write(again)) == _exemplar_times_as_numbers(first)


def test_openmetrics_parse_gives_the_collected_samples():
    """The OpenMetrics parser returns exactly the samples the registry collected, family by family."""
    reg = _registry()
    parsed = {m.name: m for m in om_parser.text_string_to_metric_families(om_exposition.generate_latest(reg).decode())}
    for family in reg.collect():
        got = parsed.pop(family.name)
        assert (got.type, got.documentation, got.unit) == (family.type, family.documentation, family.unit)
        assert _plain(got.samples) == _plain(family.samples)
        assert [s.exemplar.labels if s.exemplar else None for s in got.samples] == \
               [s.exemplar.labels if s.exemplar else None for s in family.samples]
    assert parsed == {}
