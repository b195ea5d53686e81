"""Prometheus text format writer (the format of ``text/plain; version=0.0.4``)."""

from __future__ import annotations

from typing import Any, Dict, List

from . import metrics as _metrics
from ._families import iter_families
from .metrics import Counter, Gauge, Histogram
from .metrics_core import Metric
from .openmetrics.exposition import (
    ALLOWUTF8,
    DOTS,
    UNDERSCORES,
    _escape_value,
    escape_label_name,
    escape_metric_name,
)
from .registry import REGISTRY, Collector
from .samples import Sample
from .utils import floatToGoString
from .validation import _is_valid_legacy_metric_name

# OpenMetrics types have no text-format equivalent of their own.
_TEXT_TYPE = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}
# Samples that the text format moves into a gauge family of their own, after the metric.
_SPLIT_SUFFIXES = ("_created", "_gsum", "_gcount")


def _help(doc: str) -> str:
    return doc.replace("\\", r"\\").replace("\n", r"\n")


def _sample_line(s: Sample, escaping: str) -> str:
    pairs = [f'{escape_label_name(k, escaping)}="{_escape_value(v)}"' for k, v in sorted(s.labels.items())]
    timestamp = f" {int(float(s.timestamp) * 1000):d}" if s.timestamp is not None else ""
    value = floatToGoString(s.value)
    if escaping != ALLOWUTF8 or _is_valid_legacy_metric_name(s.name):
        labelstr = "{" + ",".join(pairs) + "}" if pairs else ""
        return f"{escape_metric_name(s.name, escaping)}{labelstr} {value}{timestamp}\n"
    pairs.insert(0, escape_metric_name(s.name, escaping))
    return "{" + ",".join(pairs) + f"}} {value}{timestamp}\n"


def _write_family(out: List[str], metric: Metric, escaping: str) -> None:
    mname = metric.name
    mtype = metric.type
    if mtype == "counter":
        mname += "_total"
    elif mtype == "info":
        mname += "_info"
    mtype = _TEXT_TYPE.get(mtype, mtype)
    doc = _help(metric.documentation)
    escaped = escape_metric_name(mname, escaping)
    out.append(f"# HELP {escaped} {doc}\n# TYPE {escaped} {mtype}\n")
    split: Dict[str, List[str]] = {}
    for s in metric.samples:
        for suffix in _SPLIT_SUFFIXES:
            if s.name == metric.name + suffix:
                split.setdefault(suffix, []).append(_sample_line(s, escaping))
                break
        else:
            out.append(_sample_line(s, escaping))
    for suffix, lines in sorted(split.items()):
        escaped = escape_metric_name(metric.name + suffix, escaping)
        out.append(f"# HELP {escaped} {doc}\n# TYPE {escaped} gauge\n")
        out.extend(lines)


def _write_builtin(out: List[str], m: Any) -> None:
    """Render a built-in Counter/Gauge/Summary/Histogram from its children (legacy names only)."""
    name = m._name
    doc = _help(m._documentation)
    fmt = floatToGoString
    labels = m._label_string
    created: List[str] = []
    want_created = _metrics._use_created
    if isinstance(m, Counter):
        out.append(f"# HELP {name}_total {doc}\n# TYPE {name}_total counter\n")
        for c in m._children():
            lbl = labels(c)
            out.append(f"{name}_total{lbl} {fmt(c._value.get())}\n")
            if want_created:
                created.append(f"{name}_created{lbl} {fmt(c._created)}\n")
    elif isinstance(m, Gauge):
        out.append(f"# HELP {name} {doc}\n# TYPE {name} gauge\n")
        for c in m._children():
            out.append(f"{name}{labels(c)} {fmt(c._child_samples()[0][2])}\n")
    elif isinstance(m, Histogram):
        out.append(f"# HELP {name} {doc}\n# TYPE {name} histogram\n")
        les = m._le
        nonneg = m._upper_bounds[0] >= 0
        for c in m._children():
            lbl, head, tail = m._bucket_label_parts(c)
            counts, total = c._value.snapshot()
            for i, le in enumerate(les):
                out.append(f'{name}_bucket{head}le="{le}"{tail} {fmt(counts[i])}\n')
            out.append(f"{name}_count{lbl} {fmt(counts[-1])}\n")
            if nonneg:
                out.append(f"{name}_sum{lbl} {fmt(total)}\n")
            if want_created:
                created.append(f"{name}_created{lbl} {fmt(c._created)}\n")
    else:  # Summary
        out.append(f"# HELP {name} {doc}\n# TYPE {name} summary\n")
        for c in m._children():
            if m._quantile_spec is not None:
                out.append(m._quantile_lines(c))
            lbl = labels(c)
            out.append(f"{name}_count{lbl} {fmt(c._count.get())}\n{name}_sum{lbl} {fmt(c._sum.get())}\n")
            if want_created:
                created.append(f"{name}_created{lbl} {fmt(c._created)}\n")
    if created:
        out.append(f"# HELP {name}_created {doc}\n# TYPE {name}_created gauge\n")
        out.extend(created)


def generate_latest(registry: Collector = REGISTRY, escaping: str = UNDERSCORES) -> bytes:
    """Render every family of ``registry`` in the Prometheus text format, as UTF-8 bytes."""
    out: List[str] = []
    for family in iter_families(registry, builtin=escaping != DOTS):
        try:
            if isinstance(family, Metric):
                _write_family(out, family, escaping)
            else:
                _write_builtin(out, family)
        except Exception as exc:
            exc.args = (exc.args or ("",)) + (family,)
            raise
    return "".join(out).encode("utf-8")
