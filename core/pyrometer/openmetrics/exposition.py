"""OpenMetrics 1.0.0 text writer, and the name escaping shared with the Prometheus text writer."""

from __future__ import annotations

from sys import maxunicode
from typing import Any, Callable, List, Optional

from .. import metrics as _metrics
from .._families import iter_families
from ..metrics import Counter, Gauge, Histogram
from ..metrics_core import Metric
from ..registry import Collector
from ..samples import Exemplar, Sample
from ..utils import floatToGoString, parse_version
from ..validation import _is_valid_legacy_labelname, _is_valid_legacy_metric_name

CONTENT_TYPE_LATEST = "application/openmetrics-text; version=1.0.0; charset=utf-8"
"""Content type of the OpenMetrics 1.0 text format."""
CONTENT_TYPE_LATEST_2_0 = "application/openmetrics-text; version=2.0.0; charset=utf-8"
"""Content type of the OpenMetrics 2.0 text format."""
ESCAPING_HEADER_TAG = "escaping"

ALLOWUTF8 = "allow-utf-8"
UNDERSCORES = "underscores"
DOTS = "dots"
VALUES = "values"


# -- escaping -------------------------------------------------------------

def _is_legacy_labelname_rune(b: str, i: int) -> bool:
    if len(b) != 1:
        raise ValueError("Input 'b' must be a single character.")
    return "a" <= b <= "z" or "A" <= b <= "Z" or b == "_" or ("0" <= b <= "9" and i > 0)


def _is_legacy_metric_rune(b: str, i: int) -> bool:
    return b == ":" or _is_legacy_labelname_rune(b, i)


def _is_valid_utf8(s: str) -> bool:
    return 0 <= ord(s) < 0xD800 or 0xDFFF < ord(s) <= maxunicode


def _escape(s: str, escaping: str, valid_rune_fn: Callable[[str, int], bool]) -> str:
    """Escape a name or value under one of the escaping schemes of the exposition formats."""
    if escaping == ALLOWUTF8:
        return s.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    if escaping == UNDERSCORES:
        return "".join(c if valid_rune_fn(c, i) else "_" for i, c in enumerate(s))
    if escaping == DOTS:
        parts = []
        for i, c in enumerate(s):
            if c == "_":
                parts.append("__")
            elif c == ".":
                parts.append("_dot_")
            else:
                parts.append(c if valid_rune_fn(c, i) else "__")
        return "".join(parts)
    if escaping == VALUES:
        parts = ["U__"]
        for i, c in enumerate(s):
            if c == "_":
                parts.append("__")
            elif valid_rune_fn(c, i):
                parts.append(c)
            elif not _is_valid_utf8(c):
                parts.append("_FFFD_")
            else:
                parts.append(f"_{ord(c):x}_")
        return "".join(parts)
    return s


def _escape_name(s: str, escaping: str, legacy: bool, rune: Callable[[str, int], bool]) -> str:
    if not s:
        return s
    if escaping == ALLOWUTF8:
        escaped = _escape(s, escaping, rune)
        return escaped if legacy else f'"{escaped}"'
    if escaping in (UNDERSCORES, VALUES) and legacy:
        return s
    if escaping in (UNDERSCORES, VALUES, DOTS):
        return _escape(s, escaping, rune)
    return s


def escape_metric_name(s: str, escaping: str = UNDERSCORES) -> str:
    """A metric name as written under ``escaping`` (quoted when UTF-8 is allowed and needed)."""
    return _escape_name(s, escaping, _is_valid_legacy_metric_name(s), _is_legacy_metric_rune)


def escape_label_name(s: str, escaping: str = UNDERSCORES) -> str:
    """A label name as written under ``escaping`` (quoted when UTF-8 is allowed and needed)."""
    return _escape_name(s, escaping, _is_valid_legacy_labelname(s), _is_legacy_labelname_rune)


def _escape_value(v: str) -> str:
    if "\\" in v or "\n" in v or '"' in v:
        return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return v


# -- writer ---------------------------------------------------------------

def _exemplar_str(ex: Exemplar) -> str:
    labels = ",".join(f'{k}="{_escape_value(v)}"' for k, v in sorted(ex.labels.items()))
    if ex.timestamp is not None:
        return f" # {{{labels}}} {floatToGoString(ex.value)} {ex.timestamp}"
    return f" # {{{labels}}} {floatToGoString(ex.value)}"


def _check_exemplar_allowed(metric: Metric, sample: Sample) -> None:
    t, n = metric.type, sample.name
    if ((t == "counter" and n.endswith("_total"))
            or (t == "gaugehistogram" and n.endswith("_bucket"))
            or (t == "histogram" and (n.endswith("_bucket") or n == metric.name))):
        return
    raise ValueError(f"Metric {metric.name} has exemplars, but is not a histogram bucket or counter")


def _native_histogram_str(metric: Metric, s: Sample) -> tuple[str, str]:
    nh = s.native_histogram
    assert nh is not None
    parts = [f"{{count:{nh.count_value},sum:{nh.sum_value},schema:{nh.schema},"
             f"zero_threshold:{nh.zero_threshold},zero_count:{nh.zero_count}"]
    if nh.neg_spans:
        parts.append(",negative_spans:[" + ",".join(f"{o}:{n}" for o, n in nh.neg_spans) + "]")
        parts.append(",negative_deltas:[" + ",".join(str(d) for d in nh.neg_deltas or ()) + "]")
    if nh.pos_spans:
        parts.append(",positive_spans:[" + ",".join(f"{o}:{n}" for o, n in nh.pos_spans) + "]")
        parts.append(",positive_deltas:[" + ",".join(str(d) for d in nh.pos_deltas or ()) + "]")
    parts.append("}")
    exemplars = ""
    for ex in nh.nh_exemplars or ():
        _check_exemplar_allowed(metric, s)
        exemplars += _exemplar_str(ex)
    return "".join(parts), exemplars


def _write_family(out: List[str], metric: Metric, escaping: str, native: bool) -> None:
    mname = escape_metric_name(metric.name, escaping)
    doc = _escape_value(metric.documentation)
    out.append(f"# HELP {mname} {doc}\n# TYPE {mname} {metric.type}\n")
    if metric.unit:
        out.append(f"# UNIT {mname} {metric.unit}\n")
    for s in metric.samples:
        if s.native_histogram is not None and not native:
            continue
        quoted = escaping == ALLOWUTF8 and not _is_valid_legacy_metric_name(s.name)
        pairs = [f'{escape_label_name(k, escaping)}="{_escape_value(v)}"' for k, v in sorted(s.labels.items())]
        if quoted:
            pairs.insert(0, escape_metric_name(s.name, escaping))
        labelstr = "{" + ",".join(pairs) + "}" if pairs else ""
        exemplar = ""
        if s.exemplar:
            _check_exemplar_allowed(metric, s)
            exemplar = _exemplar_str(s.exemplar)
        if s.native_histogram is not None:
            value, extra = _native_histogram_str(metric, s)
            exemplar += extra
        else:
            value = floatToGoString(s.value)
        timestamp = f" {s.timestamp}" if s.timestamp is not None else ""
        # The family's own escaping, so sample names always match the HELP/TYPE lines.
        name = "" if quoted else escape_metric_name(s.name, escaping)
        out.append(f"{name}{labelstr} {value}{timestamp}{exemplar}\n")


def _write_builtin(out: List[str], m: Any) -> None:
    """Render a built-in Counter/Gauge/Summary/Histogram from its children (legacy names only)."""
    name = m._name
    out.append(f"# HELP {name} {_escape_value(m._documentation)}\n# TYPE {name} {m._type}\n")
    if m._unit:
        out.append(f"# UNIT {name} {m._unit}\n")
    # Each child's _created line follows its other samples.
    _write_children(out, out if _metrics._use_created else None, m, True)


def _write_children(out: List[str], created: Optional[List[str]], m: Any, exemplars: bool) -> None:
    """Append the samples of a built-in metric's children, for both text writers.

    ``_created`` lines go to ``created`` (None: not written); ``exemplars`` appends each sample's exemplar.
    """
    name = m._name
    fmt = floatToGoString
    labels = m._label_string
    if isinstance(m, Counter) and exemplars:
        for c in m._children():
            lbl = labels(c)
            ex = c._get_exemplar()
            out.append(f"{name}_total{lbl} {fmt(c._get())}{_exemplar_str(ex) if ex else ''}\n")
            if created is not None:
                created.append(f"{name}_created{lbl} {fmt(c._created)}\n")
    elif isinstance(m, Counter):  # no per-child exemplar work where the format has none
        for c in m._children():
            lbl = labels(c)
            out.append(f"{name}_total{lbl} {fmt(c._get())}\n")
            if created is not None:
                created.append(f"{name}_created{lbl} {fmt(c._created)}\n")
    elif isinstance(m, Gauge):
        for c in m._children():
            out.append(f"{name}{labels(c)} {fmt(c._child_samples()[0][2])}\n")
    elif isinstance(m, Histogram):
        les = m._le
        nonneg = m._upper_bounds[0] >= 0
        for c in m._children():
            lbl, head, tail = m._bucket_label_parts(c)
            cell = c._value
            counts, total = cell.snapshot()
            bucket_exemplars = cell.exemplars() if exemplars else None
            if bucket_exemplars:
                for le, count, ex in zip(les, counts, bucket_exemplars):
                    out.append(f'{name}_bucket{head}le="{le}"{tail} {fmt(count)}{_exemplar_str(ex) if ex else ""}\n')
            else:  # the common case, kept free of per-bucket exemplar checks
                for le, count in zip(les, counts):
                    out.append(f'{name}_bucket{head}le="{le}"{tail} {fmt(count)}\n')
            out.append(f"{name}_count{lbl} {fmt(counts[-1])}\n")
            if nonneg:
                out.append(f"{name}_sum{lbl} {fmt(total)}\n")
            if created is not None:
                created.append(f"{name}_created{lbl} {fmt(c._created)}\n")
    else:  # Summary
        for c in m._children():
            if m._quantile_spec is not None:
                out.append(m._quantile_lines(c))
            lbl = labels(c)
            out.append(f"{name}_count{lbl} {fmt(c._count.get())}\n{name}_sum{lbl} {fmt(c._sum.get())}\n")
            if created is not None:
                created.append(f"{name}_created{lbl} {fmt(c._created)}\n")


def generate_latest(registry: Collector, escaping: str = UNDERSCORES, version: str = "1.0.0") -> bytes:
    """Render every family of ``registry`` in OpenMetrics text, ending with ``# EOF``."""
    native = parse_version(version) >= (2, 0, 0)
    out: List[str] = []
    for family in iter_families(registry, builtin=escaping != DOTS):
        try:
            if isinstance(family, Metric):
                _write_family(out, family, escaping, native)
            else:
                _write_builtin(out, family)
        except Exception as exc:
            exc.args = (exc.args or ("",)) + (family,)
            raise
    out.append("# EOF\n")
    return "".join(out).encode("utf-8")
