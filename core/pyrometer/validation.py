"""Name rules for metrics, labels and exemplars.

Since Prometheus 3 any UTF-8 string is a valid metric or label name; the legacy
character set is enforced only when legacy validation is switched on (by call
or by ``PROMETHEUS_LEGACY_NAME_VALIDATION``). Writers quote or escape names
that fall outside the legacy set, so both schemes produce valid exposition.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable, Mapping

METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
METRIC_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_METRIC_LABEL_NAME_RE = re.compile(r"^__.*$")

EXEMPLAR_MAX_RUNES = 128

_legacy_validation = os.environ.get("PROMETHEUS_LEGACY_NAME_VALIDATION", "False").lower() in ("true", "1", "t")


def get_legacy_validation() -> bool:
    """Whether names are held to the legacy ``[a-zA-Z_:][a-zA-Z0-9_:]*`` set."""
    return _legacy_validation


def disable_legacy_validation() -> None:
    """Accept any UTF-8 metric and label name (the default)."""
    global _legacy_validation
    _legacy_validation = False


def enable_legacy_validation() -> None:
    """Refuse metric and label names outside the legacy character set."""
    global _legacy_validation
    _legacy_validation = True


def _is_utf8(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeError:  # lone surrogates cannot be written to a scrape
        return False
    return True


def _validate_metric_name(name: str) -> None:
    if not name:
        raise ValueError("metric name cannot be empty")
    if _legacy_validation and not METRIC_NAME_RE.match(name):
        raise ValueError("invalid metric name " + name)
    if not _is_utf8(name):
        raise ValueError("invalid metric name " + name)


def _is_valid_legacy_metric_name(name: str) -> bool:
    return bool(name) and METRIC_NAME_RE.match(name) is not None


def _validate_metric_label_name_token(tok: str) -> None:
    """Check a label name as it appears in exposition text (UTF-8 names must be quoted)."""
    if not tok:
        raise ValueError("invalid label name token " + tok)
    quoted = tok[0] == '"' and tok[-1] == '"'
    if not quoted or _legacy_validation:
        if not METRIC_LABEL_NAME_RE.match(tok):
            raise ValueError("invalid label name token " + tok)
        return
    if not _is_utf8(tok):
        raise ValueError("invalid label name token " + tok)


def _validate_labelname(name: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"label names must be str, not {type(name).__name__}: {name!r}")
    if _legacy_validation:
        if not METRIC_LABEL_NAME_RE.match(name):
            raise ValueError("Invalid label metric name: " + name)
    elif not name or not _is_utf8(name):
        raise ValueError("Invalid label metric name: " + name)
    if RESERVED_METRIC_LABEL_NAME_RE.match(name):
        raise ValueError("Reserved label metric name: " + name)


def _is_valid_legacy_labelname(name: str) -> bool:
    return bool(name) and METRIC_LABEL_NAME_RE.match(name) is not None and not name.startswith("__")


def _validate_labelnames(cls: Any, labelnames: Iterable[str]) -> tuple[str, ...]:
    if isinstance(labelnames, str):
        # A bare string would silently become one label per character.
        raise TypeError(f"labelnames must be a sequence of str, not the str {labelnames!r}")
    names = tuple(labelnames)
    for name in names:
        _validate_labelname(name)
        if name in cls._reserved_labelnames:
            raise ValueError("Reserved label metric name: " + name)
    if len(set(names)) != len(names):
        raise ValueError(f"Duplicate label names in {names}")
    return names


def _validate_exemplar(exemplar: Mapping[str, str]) -> None:
    runes = 0
    for k, v in exemplar.items():
        _validate_labelname(k)
        runes += len(k) + len(v)
    if runes > EXEMPLAR_MAX_RUNES:
        raise ValueError(
            f"Exemplar labels have {runes} UTF-8 characters, exceeding the limit of {EXEMPLAR_MAX_RUNES}"
        )
