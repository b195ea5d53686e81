"""Scanning pieces shared by the Prometheus text and OpenMetrics parsers.

Everything here works on one line at a time and reports problems by raising
``ValueError`` with a short reason; the parsers add the line number and text.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from .samples import Sample
from .validation import _is_valid_legacy_metric_name, _validate_labelname

ESCAPE_SEQUENCES = {"\\\\": "\\", "\\n": "\n", '\\"': '"'}
ESCAPING_RE = re.compile(r'\\[\\n"]')
HELP_ESCAPING_RE = re.compile(r"\\[\\n]")

METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# Unquoted label names may use the metric-name alphabet (``:`` included), as
# prometheus_client's parser accepts them.
LABEL_NAME_RE = METRIC_NAME_RE

# Canonical label pairs that need no unescaping or validation beyond the
# regex: the negative lookahead sends reserved ``__`` names to the full scanner.
FAST_PAIR = r'(?!__)[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"'

_new = tuple.__new__


class ParseError(ValueError):
    """A ``ValueError`` whose message already names the offending line."""


def line_error(reason: object, lineno: int, line: str) -> ParseError:
    """Wrap a failure reason with the line number and text it came from."""
    text = line[:-1] if line.endswith("\n") else line
    return ParseError(f"{reason or 'Invalid line'} on line {lineno}: '{text}'")


def replace_escape_sequence(match: re.Match[str]) -> str:
    """Map a matched escape sequence (``\\\\``, ``\\n`` or ``\\"``) to its character."""
    return ESCAPE_SEQUENCES[match.group(0)]


def unescape(s: str) -> str:
    """Undo label-value escaping; unknown sequences such as ``\\t`` stay literal."""
    if "\\" not in s:
        return s
    return ESCAPING_RE.sub(replace_escape_sequence, s)


def unescape_text_help(s: str) -> str:
    """Undo HELP escaping of the text format, which has no ``\\"`` sequence."""
    if "\\" not in s:
        return s
    return HELP_ESCAPING_RE.sub(replace_escape_sequence, s)


def parse_number(tok: str) -> float:
    """Parse a sample value: an ``int`` for integer literals, else a ``float``."""
    if tok.isdecimal() or (tok[:1] in ("+", "-") and tok[1:].isdecimal()):
        try:
            return int(tok)
        except ValueError:  # past the interpreter's int digit limit
            pass
    # float() would also take digit separators and padding, neither allowed here.
    if "_" in tok or tok != tok.strip():
        raise ValueError(f"Invalid value {tok!r}")
    try:
        return float(tok)
    except ValueError:
        raise ValueError(f"Invalid value {tok!r}") from None


def fast_labels(body: str) -> Optional[Dict[str, str]]:
    """Split a label body already matched by FAST_PAIR repetitions; None if a name repeats."""
    labels = {}
    count = 0
    i, n = 0, len(body)
    while i < n:
        # Names hold no '=' or '"' and values hold no '"', so find() is exact.
        eq = body.find('="', i)
        close = body.find('"', eq + 2)
        labels[body[i:eq]] = body[eq + 2:close]
        count += 1
        i = close + 2
    return labels if len(labels) == count else None


def fast_sample(m: Optional[re.Match[str]], parse_timestamp: Callable[[str], Any]) -> Optional[Sample]:
    """Build the sample of a line the format's fast regex matched (name, label body, value, timestamp).

    Returns None when the line needs the full scanner: no match, a repeated
    label name, or a value or timestamp the scanner must report (or, in
    OpenMetrics, read as a native histogram).
    """
    if m is None:
        return None
    name, body, value, timestamp = m.groups()
    labels = fast_labels(body) if body else {}
    if labels is None:
        return None
    try:
        number = parse_number(value)
        ts = None if timestamp is None else parse_timestamp(timestamp)
    except ValueError:
        return None
    return _new(Sample, (name, labels, number, ts, None, None))


def sample_name(line: str) -> Tuple[str, int]:
    """Read the metric name opening a sample line: the name and the index after it.

    A line that opens with ``{`` (its name quoted inside the braces) gives ``("", 0)``.
    """
    if line[0] == "{":
        return "", 0
    m = METRIC_NAME_RE.match(line)
    if m is None:
        raise ValueError("Invalid metric name")
    return m.group(), m.end()


def closing_quote(s: str, start: int) -> int:
    """Index of the first unescaped ``"`` at or after ``start``, or -1."""
    j = s.find('"', start)
    while j != -1:
        k = j
        while k > start and s[k - 1] == "\\":
            k -= 1
        if (j - k) % 2 == 0:
            return j
        j = s.find('"', j + 1)
    return -1


def read_quoted(s: str, i: int) -> Tuple[str, int]:
    """Read the quoted string opening at ``s[i]``; return its text and the index after it."""
    end = closing_quote(s, i + 1)
    if end < 0:
        raise ValueError("Unterminated quoted string")
    return unescape(s[i + 1:end]), end + 1


def skip_ws(s: str, i: int, n: int) -> int:
    """Index of the first non-whitespace character at or after ``i`` (``n`` if none)."""
    while i < n and s[i].isspace():
        i += 1
    return i


def scan_labels(s: str, i: int, openmetrics: bool) -> Tuple[Dict[str, str], int]:
    """Parse the label set whose ``{`` precedes ``s[i]``.

    Returns the labels (a bare quoted term becomes ``__name__``) and the index
    just past the closing ``}``. Whitespace around terms is tolerated in both
    formats; the text format also tolerates a leading or trailing comma.
    """
    labels: Dict[str, str] = {}
    n = len(s)
    i = skip_ws(s, i, n)
    if not openmetrics and i < n and s[i] == ",":
        i = skip_ws(s, i + 1, n)
    after_comma = False
    while True:
        if i >= n:
            raise ValueError("Missing closing '}' of labels")
        c = s[i]
        if c == "}":
            if after_comma and openmetrics:
                raise ValueError("Trailing comma in labels")
            return labels, i + 1
        if c == '"':
            name, i = read_quoted(s, i)
            i = skip_ws(s, i, n)
            if i < n and s[i] == "=":
                value, i = _label_value(s, i + 1, n, name)
            else:  # a bare quoted term is the metric name
                name, value = "__name__", name
        else:
            m = LABEL_NAME_RE.match(s, i)
            if m is None:
                raise ValueError("Invalid label name")
            name = m.group()
            i = skip_ws(s, m.end(), n)
            if i >= n or s[i] != "=":
                raise ValueError(f"Expected '=' after label name {name!r}")
            value, i = _label_value(s, i + 1, n, name)
        if name != "__name__":
            _validate_labelname(name)
        if name in labels:
            raise ValueError(f"Duplicate label name {name!r}")
        labels[name] = value
        i = skip_ws(s, i, n)
        if i < n and s[i] == ",":
            i = skip_ws(s, i + 1, n)
            after_comma = True
        elif i < n and s[i] == "}":
            return labels, i + 1
        else:
            raise ValueError("Expected ',' or '}' after label value")


def _label_value(s: str, i: int, n: int, name: str) -> Tuple[str, int]:
    i = skip_ws(s, i, n)
    if i >= n or s[i] != '"':
        raise ValueError(f"Value of label {name!r} must be quoted")
    return read_quoted(s, i)


def split_metadata(line: str, is_sep: Callable[[str], bool]) -> List[str]:
    """Split a ``#`` line into at most three tokens plus the remaining text.

    Separators inside double quotes do not split, so quoted UTF-8 names stay
    whole. A fourth element exists only if a separator followed the third
    token; it starts at the first non-separator character.
    """
    parts: List[str] = []
    n = len(line)
    i = 0
    while len(parts) < 3:
        start = i
        while i < n and not is_sep(line[i]):
            c = line[i]
            if c == '"':
                end = closing_quote(line, i + 1)
                i = n if end < 0 else end + 1
            elif c == "\\" and line[i + 1:i + 2] in ('"', "\\"):
                i += 2
            else:
                i += 1
        parts.append(line[start:i])
        if i >= n:
            return parts
        while i < n and is_sep(line[i]):
            i += 1
    parts.append(line[i:])
    return parts


def unquote_metric_name(tok: str) -> str:
    """Decode a metric name token from a ``#`` line: quoted UTF-8 or a legacy name."""
    if tok[:1] == '"':
        if closing_quote(tok, 1) != len(tok) - 1:
            raise ValueError(f"Invalid quoted metric name {tok}")
        name = unescape(tok[1:-1])
    elif _is_valid_legacy_metric_name(tok):
        name = tok
    else:
        raise ValueError(f"Invalid metric name {tok!r} (UTF-8 names must be quoted)")
    if not name:
        raise ValueError("Empty metric name")
    return name


def take_name_from_labels(name: str, labels: Dict[str, str]) -> str:
    """Resolve the sample name when it may be given as a bare quoted label term."""
    if not name:
        try:
            return labels.pop("__name__")
        except KeyError:
            raise ValueError("Missing metric name") from None
    if "__name__" in labels:
        raise ValueError("Metric name specified more than once")
    return name


def iter_lines(text: str) -> Iterator[str]:
    """Yield the lines of ``text`` split on ``\\n`` only, like iterating a StringIO."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return iter(lines)
