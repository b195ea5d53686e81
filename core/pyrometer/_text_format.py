"""Prometheus text format writer (the format of ``text/plain; version=0.0.4``)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import metrics as _metrics
from ._families import iter_families
from .metrics import Counter
from .metrics_core import Metric
from .openmetrics.exposition import (
    ALLOWUTF8,
    DOTS,
    UNDERSCORES,
    _escape_value,
    _write_children,
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
    family = name + "_total" if isinstance(m, Counter) else name
    out.append(f"# HELP {family} {doc}\n# TYPE {family} {m._type}\n")
    # The _created lines form a gauge family of their own, after the metric.
    created: Optional[List[str]] = [] if _metrics._use_created else None
    _write_children(out, created, m, False)
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
