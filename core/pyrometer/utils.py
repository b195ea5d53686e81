"""Number formatting shared by every writer."""

from __future__ import annotations

from typing import Union

INF = float("inf")
MINUS_INF = float("-inf")
NaN = float("NaN")

def floatToGoString(d: Union[float, int, str]) -> str:
    """Format a number the way Go's strconv does for Prometheus exposition."""
    d = float(d)
    if d == INF:
        return "+Inf"
    if d == MINUS_INF:
        return "-Inf"
    if d != d:
        return "NaN"
    s = repr(d)
    dot = s.find(".")
    # Go prints large positive numbers in exponent form sooner than Python's
    # repr does; only positive values matter because they end up in `le`.
    if d > 0 and dot > 6:
        digits = (s[1:dot] + s[dot + 1:]).rstrip("0")
        mantissa = s[0] + ("." + digits if digits else "")
        return f"{mantissa}e+{dot - 1:02d}"
    return s

def parse_version(version_str: str) -> tuple[Union[int, str], ...]:
    """Split a dotted version into a tuple of ints (and strings where not numeric)."""
    parts: list[Union[int, str]] = []
    for part in version_str.split("."):
        try:
            parts.append(int(part))
        except ValueError:
            parts.append(part)
    return tuple(parts)

