"""What the two parser test modules share: expected-family building, the comparable form, and strategies.

Imported by name (``from parser_helpers import ...``) like the other helper modules here: pytest puts
``tests/core`` on ``sys.path`` because the tests directories are not packages.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, List

import prometheus_client.metrics_core as pc_core
from hypothesis import strategies as st
from pyrometer.metrics_core import Metric
from pyrometer.samples import Sample

Parse = Callable[[str], Iterable[Any]]

REFERENCE_CRASH = "prometheus_client failed with an error other than ValueError"

# prometheus_client's custom-collector family classes, by the type the random expositions draw.
PC_FAMILIES = {
    "counter": pc_core.CounterMetricFamily, "gauge": pc_core.GaugeMetricFamily,
    "summary": pc_core.SummaryMetricFamily, "histogram": pc_core.HistogramMetricFamily,
    "gaugehistogram": pc_core.GaugeHistogramMetricFamily, "info": pc_core.InfoMetricFamily,
    "stateset": pc_core.StateSetMetricFamily, "unknown": pc_core.UnknownMetricFamily,
}

LEGACY = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,5}", fullmatch=True)
# A letter first, so that escaping to underscores cannot produce a reserved "__" name.
UTF8 = st.text(alphabet=st.sampled_from("ab.é- Z_\"\\"), max_size=5).map(lambda s: "a" + s)
# Separator-like characters are drawn often: they are what label scanning must get right.
TEXT = st.text(alphabet=st.one_of(st.sampled_from(',="{}#\\\n\t '), st.characters(blacklist_categories=("Cs",))),
               max_size=6)
VALUE = st.one_of(st.integers(-5, 10**12), st.floats(allow_nan=True, allow_infinity=True))


def metric(name: str, documentation: str, typ: str, *samples: Sample, unit: str = "") -> Metric:
    """A family of exactly ``samples``, for comparing with what a parser returns."""
    m = Metric(name, documentation, typ, unit)
    m.samples = list(samples)
    return m


def normalize(value: Any) -> Any:
    """A comparable form across both libraries' classes; int and float differ, NaN equals NaN."""
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value)
    if isinstance(value, int):
        return ("int", value)
    if type(value).__name__ == "Timestamp":
        return ("Timestamp", value.sec, value.nsec)
    if isinstance(value, dict):
        return [(k, normalize(v)) for k, v in value.items()]  # label order matters too
    if isinstance(value, tuple):
        return (type(value).__name__, *(normalize(v) for v in value))
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def families_form(families: Any) -> List[Any]:
    return [(m.name, m.documentation, m.type, m.unit, normalize(m.samples)) for m in families]


def outcome(parse: Parse, text: str) -> Any:
    """What ``parse`` makes of ``text``: its families' comparable form, or ``ValueError``."""
    try:
        return families_form(parse(text))
    except ValueError:
        return ValueError


def reference_outcome(parse: Parse, text: str) -> Any:
    """Like :func:`outcome`, for prometheus_client, whose other failures have no answer to match."""
    try:
        return outcome(parse, text)
    except Exception:  # e.g. comparing a float with a Timestamp
        return REFERENCE_CRASH
