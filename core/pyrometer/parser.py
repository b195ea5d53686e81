"""Parser for the Prometheus text exposition format (version 0.0.4).

Families come out exactly as prometheus_client's parser builds them: a
counter family drops ``_total`` from its name while its samples keep it,
``untyped`` becomes ``unknown``, values are ``int`` for integer literals and
``float`` otherwise, and millisecond timestamps become float seconds. A sample
that does not belong to the family announced by the preceding HELP/TYPE lines
is yielded on its own as an ``unknown`` family. UTF-8 names are written
quoted: ``# TYPE "my.metric" gauge`` and ``{"my.metric",a="b"} 1``.

Malformed input raises ``ValueError`` naming the line number and text when
the generator reaches it. Enforced:

* a sample line is a metric name (or a quoted name inside the braces), an
  optional label set, a value and an optional timestamp, and nothing more;
* unquoted metric and label names use the legacy character set; label values
  are quoted; label names are neither duplicated nor reserved (``__``);
* values and timestamps are numbers (no ``_`` digit separators);
* HELP and TYPE lines carry a metric name, and TYPE a known metric type;
* family names pass metric-name validation (legacy mode included).

Other ``#`` lines are comments. Blank lines and surrounding whitespace are
ignored, and whitespace inside a label set is tolerated.
"""

from __future__ import annotations

import re
from typing import Dict, Iterable, Iterator, List, Optional, TextIO, Tuple

from ._parse_common import (
    ESCAPE_SEQUENCES,
    ESCAPING_RE,
    FAST_PAIR,
    HELP_ESCAPING_RE,
    fast_sample,
    iter_lines,
    line_error,
    parse_number,
    replace_escape_sequence,
    sample_name,
    scan_labels,
    skip_ws,
    split_metadata,
    take_name_from_labels,
    unescape_text_help,
    unquote_metric_name,
)
from .metrics_core import METRIC_TYPES, Metric
from .samples import Sample

__all__ = [
    "ESCAPE_SEQUENCES",
    "ESCAPING_RE",
    "HELP_ESCAPING_RE",
    "parse_labels",
    "replace_escape_sequence",
    "text_fd_to_metric_families",
    "text_string_to_metric_families",
]

_TYPES = frozenset(METRIC_TYPES) | {"untyped"}
# Sample-name suffixes that stay in a typed family; ``_created`` and friends
# are exposed as separate gauges in this format.
_SUFFIXES = {
    "counter": ("",),
    "gauge": ("",),
    "summary": ("_count", "_sum", ""),
    "histogram": ("_count", "_sum", "_bucket"),
}
# Metadata tokens split on ASCII whitespace only, as prometheus_client does.
_is_meta_sep = frozenset(" \t\n\r\x0b\x0c").__contains__

_FAST_SAMPLE = re.compile(
    r"([a-zA-Z_:][a-zA-Z0-9_:]*)"
    rf"(?:\{{((?:{FAST_PAIR})(?:,{FAST_PAIR})*,?)?\}})?"
    r"[ \t]+([^ \t]+)(?:[ \t]+([^ \t]+))?"
)
_new = tuple.__new__


def text_string_to_metric_families(text: str) -> Iterable[Metric]:
    """Parse Prometheus text format from a string; see text_fd_to_metric_families."""
    yield from _families(iter_lines(text))


def text_fd_to_metric_families(fd: TextIO) -> Iterable[Metric]:
    """Parse Prometheus text format from a file object (or any iterable of lines).

    Lazily yields one Metric per family, in input order.
    """
    yield from _families(fd)


def parse_labels(labels_string: str, openmetrics: bool = False) -> Dict[str, str]:
    """Parse the text between a sample's braces into a dict.

    A bare quoted term (a UTF-8 metric name) is returned under ``__name__``.
    ``openmetrics`` rejects the stray commas the text format tolerates.
    """
    try:
        labels, end = scan_labels(labels_string + "}", 0, openmetrics)
        if end != len(labels_string) + 1:
            raise ValueError("text after labels")
    except ValueError:
        raise ValueError("Invalid labels: " + labels_string) from None
    return labels


class _Family:
    """A family announced by HELP/TYPE lines, collecting its samples."""

    __slots__ = ("allowed", "documentation", "line", "lineno", "name", "samples", "type")

    def __init__(self, name: str, lineno: int, line: str) -> None:
        self.name = name
        self.documentation = ""
        self.type = "untyped"
        self.samples: List[Sample] = []
        self.allowed = frozenset((name,))
        self.lineno = lineno
        self.line = line

    def set_type(self, typ: str) -> None:
        self.type = typ
        self.allowed = frozenset(self.name + s for s in _SUFFIXES.get(typ, ("",)))

    def build(self) -> Metric:
        return _build(self.name, self.documentation, self.type, self.samples, self.lineno, self.line)


def _build(name: str, documentation: str, typ: str, samples: List[Sample], lineno: int, line: str) -> Metric:
    if typ == "counter":
        # Families hold the OpenMetrics view: counter "x" with samples "x_total".
        if name.endswith("_total"):
            name = name[:-6]
        else:
            samples = [_new(Sample, (s[0] + "_total", *s[1:])) for s in samples]
    try:
        metric = Metric(name, documentation, typ)
    except ValueError as exc:
        raise line_error(exc, lineno, line) from None
    metric.samples = samples
    return metric


def _families(lines: Iterable[str]) -> Iterator[Metric]:
    family: Optional[_Family] = None
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if line[0] == "#":
            try:
                meta = _read_metadata(line)
            except ValueError as exc:
                raise line_error(exc, lineno, raw) from None
            if meta is None:
                continue
            keyword, name, text = meta
            if family is None or family.name != name:
                if family is not None:
                    yield family.build()
                family = _Family(name, lineno, raw)
            if keyword == "HELP":
                family.documentation = text
            else:
                family.set_type(text)
            continue
        try:
            sample = _parse_sample(line)
        except ValueError as exc:
            raise line_error(exc, lineno, raw) from None
        if family is not None:
            if sample[0] in family.allowed:
                family.samples.append(sample)
                continue
            yield family.build()
            family = None
        yield _build(sample[0], "", "untyped", [sample], lineno, raw)
    if family is not None:
        yield family.build()


def _read_metadata(line: str) -> Optional[Tuple[str, str, str]]:
    """Return (keyword, metric name, text) for HELP/TYPE lines, None for comments."""
    parts = split_metadata(line, _is_meta_sep)
    if len(parts) < 2 or parts[1] not in ("HELP", "TYPE"):
        return None
    keyword = parts[1]
    if len(parts) < 3:
        raise ValueError(f"Missing metric name in {keyword} line")
    name = unquote_metric_name(parts[2])
    if keyword == "HELP":
        return keyword, name, unescape_text_help(parts[3]) if len(parts) > 3 else ""
    if len(parts) < 4:
        raise ValueError("Missing metric type")
    if parts[3] not in _TYPES:
        raise ValueError(f"Invalid metric type {parts[3]!r}")
    return keyword, name, parts[3]


def _ms_timestamp(tok: str) -> float:
    return parse_number(tok) / 1000


def _parse_sample(line: str) -> Sample:
    return fast_sample(_FAST_SAMPLE.fullmatch(line), _ms_timestamp) or _parse_sample_slow(line)


def _parse_sample_slow(line: str) -> Sample:
    n = len(line)
    name, i = sample_name(line)
    j = skip_ws(line, i, n)
    braced = j < n and line[j] == "{"
    if braced:
        i = j + 1
    elif j == i < n:
        raise ValueError("Invalid metric name")
    else:
        i = j
    labels: Dict[str, str] = {}
    if braced:
        labels, i = scan_labels(line, i, False)
        name = take_name_from_labels(name, labels)
    tokens = line[i:].split()
    if not tokens:
        raise ValueError("Missing value")
    if len(tokens) > 2:
        raise ValueError("Unexpected text after the timestamp")
    value = parse_number(tokens[0])
    ts = parse_number(tokens[1]) / 1000 if len(tokens) == 2 else None
    return _new(Sample, (name, labels, value, ts, None, None))
