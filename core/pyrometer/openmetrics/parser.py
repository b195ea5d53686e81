"""Parser for the OpenMetrics 1.0.0 text format.

Families come out exactly as prometheus_client's OpenMetrics parser builds
them: values are ``int`` for integer literals and ``float`` otherwise;
timestamps are ``Timestamp`` objects when written as ``sec[.frac]`` and
floats otherwise (exponent forms); exemplars become ``Exemplar`` tuples; a
sample repeating the previous sample's series and timestamp is dropped.
Histogram families also accept native-histogram samples
(``name {count:..,sum:..,schema:..,zero_threshold:..,zero_count:..,...}``);
like prometheus_client, anything after their closing brace is ignored.

Malformed input raises ``ValueError`` naming the line number and text when
the generator reaches it. Enforced:

* the input ends with ``# EOF`` with nothing after it; no blank lines;
* ``#`` lines are ``HELP``, ``TYPE`` or ``UNIT`` with a (legacy or quoted)
  metric name and text; each at most once per family and never after the
  family's first sample; TYPE is a known type (``untyped`` is not one);
* a family's unit is a ``_unit`` suffix of its name; info and stateset
  families have no unit;
* families are contiguous and no family reuses an earlier family's name or
  type-suffixed sample names;
* sample syntax: single spaces; legacy unquoted names (quoted names go
  inside the braces); quoted label values; no duplicate, reserved or
  trailing-comma labels; numeric values; finite timestamps;
* counter-like samples (``_total``, ``_count``, ``_sum``, ``_bucket``,
  ``_gcount``, ``_gsum``) are not NaN and, except ``_gsum``, not negative;
  ``_bucket``, ``_count`` and ``_gcount`` values are integers;
* buckets have an ``le`` label that is a number other than NaN with +Inf
  spelled ``+Inf``; within a label group they increase in ``le`` with
  non-decreasing values and end with ``+Inf``; ``_count``/``_gcount`` equals
  the ``+Inf`` bucket and is present exactly when ``_sum``/``_gsum`` is;
  ``_sum`` only with non-negative buckets, negative ``_gsum`` only with
  negative buckets;
* summary quantile samples have a ``quantile`` label in [0, 1] and a
  non-negative value; stateset samples carry a label named after the family
  and value 0 or 1; info samples have value 1;
* native histograms have the five scalar fields and well-formed span and
  delta lists, and a name without ``_count``/``_sum``/``_bucket``/``_created``;
* the samples of one label group are contiguous, with timestamps either all
  present or all absent and (except for info) never going backwards;
* exemplars appear only on counter ``_total`` and (gauge) histogram
  ``_bucket`` samples, with at most 128 characters of label names and values.
"""

from __future__ import annotations

import math
import re
from typing import Dict, FrozenSet, Iterable, Iterator, List, Optional, Set, TextIO, Tuple, Union

from .._parse_common import (
    FAST_PAIR,
    ParseError,
    fast_sample,
    iter_lines,
    line_error,
    parse_number,
    sample_name,
    scan_labels,
    split_metadata,
    take_name_from_labels,
    unescape,
    unquote_metric_name,
)
from ..metrics_core import METRIC_TYPES, Metric
from ..samples import BucketSpan, Exemplar, NativeHistogram, Sample, Timestamp
from ..validation import _validate_metric_name

__all__ = ["text_fd_to_metric_families", "text_string_to_metric_families"]

_TypedTimestamp = Union[Timestamp, float]
_Group = FrozenSet[Tuple[str, str]]

_TYPE_SUFFIXES: Dict[str, Tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "histogram": ("_count", "_sum", "_bucket", "_created"),
    "gaugehistogram": ("_gcount", "_gsum", "_bucket"),
    "info": ("_info",),
}
_COUNTER_LIKE = frozenset(("_total", "_sum", "_count", "_bucket", "_gcount", "_gsum"))
_HISTOGRAM_TYPES = frozenset(("histogram", "gaugehistogram"))
_EXEMPLAR_SUFFIX = {"counter": "_total", "histogram": "_bucket", "gaugehistogram": "_bucket"}
_NATIVE_BAD_SUFFIXES = ("_count", "_sum", "_bucket", "_created")
_NATIVE_FIELDS = frozenset((
    "count", "sum", "schema", "zero_threshold", "zero_count",
    "positive_spans", "negative_spans", "positive_deltas", "negative_deltas",
))
_EXEMPLAR_MAX_CHARS = 128
_NO_GROUP: _Group = frozenset()
# Span offsets may be negative (prometheus_client's reader only takes
# non-negative ones and silently drops the whole list otherwise).
_SPAN_LIST = re.compile(r"-?\d+:\d+(?:,-?\d+:\d+)*")
_DELTA_LIST = re.compile(r"-?\d+(?:,-?\d+)*")

_FAST_SAMPLE = re.compile(
    r"([a-zA-Z_:][a-zA-Z0-9_:]*)"
    rf"(?:\{{((?:{FAST_PAIR})(?:,{FAST_PAIR})*)?\}})?"
    r" ([^ ]+)(?: ([^ ]+))?"
)
_new = tuple.__new__
_is_space = " ".__eq__


def text_string_to_metric_families(text: str) -> Iterable[Metric]:
    """Parse OpenMetrics text from a string; see text_fd_to_metric_families."""
    yield from _families(iter_lines(text))


def text_fd_to_metric_families(fd: TextIO) -> Iterable[Metric]:
    """Parse OpenMetrics text from a file object (or any iterable of lines).

    Lazily yields one Metric per family, in input order; raises ValueError on
    the first violation of the rules listed in the module docstring.
    """
    yield from _families(fd)


def _families(lines: Iterable[str]) -> Iterator[Metric]:
    family: Optional[_Family] = None
    seen_names: Set[str] = set()
    eof = False
    lineno = 0
    line = ""
    for lineno, raw in enumerate(lines, 1):
        line = raw[:-1] if raw[-1:] == "\n" else raw
        if eof:
            raise line_error("Received line after # EOF", lineno, line)
        if not line:
            raise line_error("Received blank line", lineno, line)
        if line == "# EOF":
            eof = True
            continue
        if line[0] == "#":
            try:
                keyword, name, text = _read_metadata(line)
                if family is not None and name == family.name and family.samples:
                    raise ValueError("Received metadata after samples")
            except ValueError as exc:
                raise line_error(exc, lineno, line) from None
            if family is None or name != family.name:
                if family is not None:
                    yield family.build(seen_names)
                family = _Family(name, lineno, line, None)
            try:
                family.set_metadata(keyword, text, lineno, line)
            except ValueError as exc:
                raise line_error(exc, lineno, line) from None
            continue
        try:
            sample = _parse_sample(line, family is not None and family.type == "histogram")
        except ValueError as exc:
            raise line_error(exc, lineno, line) from None
        if sample[5] is not None and family is not None:
            # Native histograms join the current family whatever their name,
            # as prometheus_client does.
            family.samples.append(sample)
            continue
        if family is None or sample[0] not in family.allowed:
            if family is not None:
                yield family.build(seen_names)
            family = _Family(sample[0], lineno, line, "unknown")
        try:
            family.add(sample, lineno, line)
        except ParseError:
            raise
        except ValueError as exc:
            raise line_error(exc, lineno, line) from None
    if family is not None:
        yield family.build(seen_names)
    if not eof:
        if lineno == 0:
            raise ValueError("Missing # EOF at end of input (input is empty)")
        raise line_error("Missing # EOF after the last line", lineno, line)


def _read_metadata(line: str) -> Tuple[str, str, str]:
    parts = split_metadata(line, _is_space)
    if len(parts) < 4 or parts[1] not in ("HELP", "TYPE", "UNIT"):
        raise ValueError("Invalid line")
    return parts[1], unquote_metric_name(parts[2]), parts[3]


class _HistogramRun:
    """Consecutive histogram samples sharing labels (minus ``le``) and timestamp."""

    __slots__ = ("bound", "bucket_value", "count", "has_gsum", "has_sum", "key",
                 "line", "lineno", "negative_bucket", "negative_gsum")

    def __init__(self, key: Tuple[_Group, Optional[_TypedTimestamp]]) -> None:
        self.key = key
        self.bound: Optional[float] = None
        self.bucket_value: float = 0
        self.count: Optional[float] = None
        self.negative_bucket = False
        self.has_sum = False
        self.has_gsum = False
        self.negative_gsum = False
        self.lineno = 0
        self.line = ""

    def add(self, suffix: str, value: float, bound: Optional[float]) -> None:
        if bound is not None:  # a _bucket sample
            if bound < 0:
                self.negative_bucket = True
            if self.bound is not None and bound <= self.bound:
                raise ValueError("Buckets out of order")
            if value < self.bucket_value:
                raise ValueError("Bucket values out of order")
            self.bound = bound
            self.bucket_value = value
        elif suffix in ("_count", "_gcount"):
            self.count = value
        elif suffix == "_sum":
            self.has_sum = True
        elif suffix == "_gsum":
            self.has_gsum = True
            if value < 0:
                self.negative_gsum = True

    def finish(self, name: str) -> None:
        reason = self._problem()
        if reason:
            raise line_error(f"{reason} in histogram {name}", self.lineno, self.line)

    def _problem(self) -> str:
        has_any_sum = self.has_sum or self.has_gsum
        if self.bound != math.inf:
            return "+Inf bucket missing"
        if self.count is not None and self.bucket_value != self.count:
            return "Count does not match +Inf value"
        if self.has_sum and self.count is None:
            return "_count must be present if _sum is present"
        if self.has_gsum and self.count is None:
            return "_gcount must be present if _gsum is present"
        if not has_any_sum and self.count is not None:
            return "_sum/_gsum must be present if _count is present"
        if self.negative_bucket and self.has_sum:
            return "Cannot have _sum with negative buckets"
        if not self.negative_bucket and self.negative_gsum:
            return "Cannot have negative _gsum with non-negative buckets"
        return ""


class _Family:
    """The family being read: its metadata, samples and per-group state."""

    __slots__ = ("allowed", "documentation", "group", "group_series", "group_ts", "line", "lineno", "name",
                 "run", "samples", "seen_groups", "type", "unit", "unit_line", "unit_lineno")

    def __init__(self, name: str, lineno: int, line: str, typ: Optional[str]) -> None:
        self.name = name
        self.lineno = lineno
        self.line = line
        self.documentation: Optional[str] = None
        self.type = typ
        self.unit: Optional[str] = None
        self.unit_lineno = lineno
        self.unit_line = line
        self.samples: List[Sample] = []
        self.allowed: FrozenSet[str] = frozenset((name,))
        self.group: Optional[_Group] = None
        self.group_ts: Optional[_TypedTimestamp] = None
        self.group_series: Set[Tuple[str, _Group]] = set()
        self.seen_groups: Set[_Group] = set()
        self.run: Optional[_HistogramRun] = None

    def set_metadata(self, keyword: str, text: str, lineno: int, line: str) -> None:
        if keyword == "HELP":
            if self.documentation is not None:
                raise ValueError("More than one HELP for metric")
            self.documentation = unescape(text)
        elif keyword == "TYPE":
            if self.type is not None:
                raise ValueError("More than one TYPE for metric")
            if text not in METRIC_TYPES:
                raise ValueError(f"Invalid TYPE {text!r} for metric")
            self.type = text
            self.allowed = frozenset(self.name + s for s in _TYPE_SUFFIXES.get(text, ("",)))
        else:
            if self.unit is not None:
                raise ValueError("More than one UNIT for metric")
            self.unit = text
            self.unit_lineno, self.unit_line = lineno, line

    def add(self, sample: Sample, lineno: int, line: str) -> None:
        """Check one classic sample against the family rules, then keep it."""
        name, typ = self.name, self.type
        sname, labels, value, ts, exemplar, _ = sample
        suffix = sname[len(name):]
        bound = None
        drop = None  # the label that varies within one group
        if suffix in _COUNTER_LIKE:
            if value != value:
                raise ValueError("Counter-like samples cannot be NaN")
            if value < 0 and suffix != "_gsum":
                raise ValueError("Counter-like samples cannot be negative")
            if suffix == "_bucket":
                bound = _bucket_bound(labels)
                if not _is_integral(value):
                    raise ValueError("Bucket value must be an integer")
                drop = "le"
            elif (suffix == "_count" or suffix == "_gcount") and not _is_integral(value):
                raise ValueError("Count value must be an integer")
        elif suffix:
            if typ == "info" and value != 1:
                raise ValueError("Info samples can only have value one")
        elif typ == "summary":
            _check_quantile(labels)
            if value < 0:
                raise ValueError("Quantile values cannot be negative")
            drop = "quantile"
        elif typ == "stateset":
            if name not in labels:
                raise ValueError("Stateset missing label")
            if value not in (0, 1):
                raise ValueError("Stateset samples can only have values zero and one")
            drop = name
        if exemplar is not None and _EXEMPLAR_SUFFIX.get(typ or "") != suffix:
            raise ValueError("Only histogram/gaugehistogram buckets and counters can have exemplars")

        series_labels: _Group = frozenset(labels.items())
        if typ == "info":
            group = _NO_GROUP
        elif drop is None:
            group = series_labels
        else:
            group = series_labels - {(drop, labels[drop])}
        previous = self.group
        if group == previous:
            last_ts = self.group_ts
            if (ts is None) != (last_ts is None):
                raise ValueError("Mix of timestamp presence within a group")
            if last_ts is not None and ts is not None and typ != "info" and _is_later(last_ts, ts):
                raise ValueError("Timestamps went backwards within a group")
        else:
            if previous is not None and group in self.seen_groups:
                raise ValueError("Invalid metric grouping")
            self.group_series = set()
            self.seen_groups.add(group)
        series = (sname, series_labels)
        # A repeated series with the same timestamp is the same point again.
        keep = ts != self.group_ts or series not in self.group_series
        self.group_series.add(series)
        self.group = group
        self.group_ts = ts
        if keep:
            self.samples.append(sample)
            if suffix and typ in _HISTOGRAM_TYPES:
                self._track_histogram(suffix, value, bound, (group, ts), lineno, line)

    def _track_histogram(self, suffix: str, value: float, bound: Optional[float],
                         key: Tuple[_Group, Optional[_TypedTimestamp]], lineno: int, line: str) -> None:
        run = self.run
        if run is None or run.key != key:
            if run is not None:
                run.finish(self.name)
            run = self.run = _HistogramRun(key)
        run.add(suffix, value, bound)
        run.lineno, run.line = lineno, line

    def build(self, seen_names: Set[str]) -> Metric:
        """Apply the whole-family rules and return the Metric."""
        name = self.name
        typ = self.type or "unknown"
        names = {name + s for s in _TYPE_SUFFIXES.get(typ, ())}
        names.add(name)
        clashes = names & seen_names
        if clashes:
            raise line_error(f"Clashing name: {min(clashes)}", self.lineno, self.line)
        seen_names |= names
        unit = self.unit or ""
        if unit and not name.endswith("_" + unit):
            raise line_error(f"Unit does not match metric name {name}", self.unit_lineno, self.unit_line)
        if unit and typ in ("info", "stateset"):
            raise line_error(f"Units not allowed for {typ} metric {name}", self.unit_lineno, self.unit_line)
        if self.run is not None:
            self.run.finish(name)
        try:
            _validate_metric_name(name)
            metric = Metric(name, self.documentation or "", typ, unit)
        except ValueError as exc:
            raise line_error(exc, self.lineno, self.line) from None
        metric.samples = self.samples
        return metric


def _is_integral(value: float) -> bool:
    return isinstance(value, int) or value.is_integer()


def _is_later(a: _TypedTimestamp, b: _TypedTimestamp) -> bool:
    if isinstance(a, Timestamp) and isinstance(b, Timestamp):
        return a > b
    return float(a) > float(b)


def _bucket_bound(labels: Dict[str, str]) -> float:
    le = labels.get("le")
    if le is None or le == "NaN":
        raise ValueError("Invalid le label")
    try:
        bound = float(le)
    except ValueError:
        raise ValueError("Invalid le label") from None
    if bound == math.inf and le != "+Inf":
        raise ValueError("Invalid le label (+Inf must be written '+Inf')")
    return bound


def _check_quantile(labels: Dict[str, str]) -> None:
    try:
        q = float(labels["quantile"])
    except (KeyError, ValueError):
        raise ValueError("Invalid quantile label") from None
    if not 0 <= q <= 1:
        raise ValueError("Invalid quantile label")


def _parse_timestamp(tok: str) -> _TypedTimestamp:
    if "_" in tok or tok != tok.strip():
        raise ValueError(f"Invalid timestamp {tok!r}")
    if tok.isdecimal() or (tok[:1] in ("+", "-") and tok[1:].isdecimal()):
        try:
            return Timestamp(int(tok), 0)
        except ValueError:  # past the interpreter's int digit limit
            pass
    whole, dot, frac = tok.partition(".")
    if dot:
        # prometheus_client reads "sec.frac" from the first nine fractional
        # characters only, even when an exponent follows; results must match.
        try:
            return Timestamp(int(whole), int(frac[:9].ljust(9, "0")))
        except ValueError:
            pass
    try:
        f = float(tok)
    except ValueError:
        raise ValueError(f"Invalid timestamp {tok!r}") from None
    if math.isnan(f) or math.isinf(f):
        raise ValueError(f"Invalid timestamp {tok!r}")
    return f


def _parse_sample(line: str, native: bool) -> Sample:
    """Parse a sample line; ``native`` lets a ``{...}`` value be a native histogram."""
    return fast_sample(_FAST_SAMPLE.fullmatch(line), _parse_timestamp) or _parse_sample_slow(line, native)


def _parse_sample_slow(line: str, native: bool) -> Sample:
    n = len(line)
    name, i = sample_name(line)
    braced = i < n and line[i] == "{"
    if braced:
        i += 1
    elif i >= n or line[i] != " ":
        raise ValueError("Expected labels or a space after the metric name")
    labels: Dict[str, str] = {}
    named_outside = bool(name)
    if braced:
        labels, i = scan_labels(line, i, True)
        name = take_name_from_labels(name, labels)
        if i >= n or line[i] != " ":
            raise ValueError("Expected a space after the labels")
    i += 1
    if native and line.startswith("{", i):
        if name.endswith(_NATIVE_BAD_SUFFIXES):
            raise ValueError("The sample name of a native histogram should have no suffixes")
        # prometheus_client's shapes: no braces, or only a quoted name, give None.
        nh_labels = labels if braced and (labels or named_outside) else None
        return _new(Sample, (name, nh_labels, None, None, None, _parse_native(line[i:])))
    value, ts, exemplar = _parse_rest(line, i)
    return _new(Sample, (name, labels, value, ts, exemplar, None))


def _parse_rest(line: str, i: int) -> Tuple[float, Optional[_TypedTimestamp], Optional[Exemplar]]:
    """Parse ``value [timestamp] [# exemplar]`` starting at ``line[i]``."""
    sp = line.find(" ", i)
    if sp < 0:
        return parse_number(line[i:]), None, None
    value = parse_number(line[i:sp])
    i = sp + 1
    ts = None
    if line.startswith("# ", i):
        i += 2
    else:
        sp = line.find(" ", i)
        tok = line[i:] if sp < 0 else line[i:sp]
        if not tok:
            raise ValueError("Unexpected space")
        ts = _parse_timestamp(tok)
        if sp < 0:
            return value, ts, None
        if not line.startswith("# ", sp + 1):
            raise ValueError("Expected ' # ' before the exemplar")
        i = sp + 3
    return value, ts, _parse_exemplar(line, i)


def _parse_exemplar(line: str, i: int) -> Exemplar:
    if not line.startswith("{", i):
        raise ValueError("Exemplar must start with labels")
    labels, i = scan_labels(line, i + 1, True)
    if not line.startswith(" ", i):
        raise ValueError("Expected a space after the exemplar labels")
    tokens = line[i + 1:].split(" ")
    if len(tokens) > 2 or not all(tokens):
        raise ValueError("Invalid exemplar value or timestamp")
    if sum(len(k) + len(v) for k, v in labels.items()) > _EXEMPLAR_MAX_CHARS:
        raise ValueError("Exemplar labels are too long")
    ts = _parse_timestamp(tokens[1]) if len(tokens) == 2 else None
    return Exemplar(labels, parse_number(tokens[0]), ts)


def _parse_native(text: str) -> NativeHistogram:
    """Parse ``{count:..,sum:..,...}``; anything after ``}`` and a space is ignored, as prometheus_client does."""
    end = text.find("}")
    if end < 0 or not (end == len(text) - 1 or text[end + 1] == " "):
        raise ValueError("Invalid native histogram value")
    fields: Dict[str, str] = {}
    body = text[1:end]
    i, n = 0, len(body)
    while i < n:
        colon = body.find(":", i)
        key = body[i:colon]
        if colon < 0 or key not in _NATIVE_FIELDS or key in fields:
            raise ValueError(f"Invalid native histogram field {body[i:colon if colon >= 0 else n]!r}")
        j = colon + 1
        if body.startswith("[", j):
            close = body.find("]", j)
            if close < 0 or not (close == n - 1 or body[close + 1] == ","):
                raise ValueError(f"Invalid list in native histogram field {key}")
            fields[key] = body[j + 1:close]
            i = close + 2
        else:
            comma = body.find(",", j)
            i = n + 1 if comma < 0 else comma + 1
            fields[key] = body[j:i - 1]
    try:
        return NativeHistogram(
            count_value=int(fields["count"]),
            sum_value=float(fields["sum"]),
            schema=int(fields["schema"]),
            zero_threshold=float(fields["zero_threshold"]),
            zero_count=int(fields["zero_count"]),
            pos_spans=_spans(fields.get("positive_spans")),
            neg_spans=_spans(fields.get("negative_spans")),
            pos_deltas=_deltas(fields.get("positive_deltas")),
            neg_deltas=_deltas(fields.get("negative_deltas")),
        )
    except KeyError as exc:
        raise ValueError(f"Native histogram lacks {exc.args[0]}") from None
    except ValueError as exc:
        raise ValueError(f"Invalid native histogram value: {exc}") from None


def _spans(text: Optional[str]) -> Optional[Tuple[BucketSpan, ...]]:
    if not text:
        return None
    if not _SPAN_LIST.fullmatch(text):
        raise ValueError(f"invalid span list [{text}]")
    return tuple(BucketSpan(*map(int, item.split(":"))) for item in text.split(","))


def _deltas(text: Optional[str]) -> Optional[Tuple[int, ...]]:
    if not text:
        return None
    if not _DELTA_LIST.fullmatch(text):
        raise ValueError(f"invalid delta list [{text}]")
    return tuple(map(int, text.split(",")))
