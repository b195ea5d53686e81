"""Where the engine's exemplars come from: the current OpenTelemetry span, or a function of the user's.

An exemplar source is a function of no arguments returning the exemplar's
labels (``{"trace_id": ..., "span_id": ...}``) or ``None`` when the request has
nothing to link to. OpenTelemetry is imported on first need, once per process;
when ``opentelemetry-api`` is missing the ``auto`` source is simply absent and
requests pay nothing.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, Optional, Tuple, Union

from ..validation import _validate_exemplar

ExemplarSource = Callable[[], Optional[Dict[str, str]]]

_log = logging.getLogger("pyrometer.http")
_lock = threading.Lock()
_otel: Optional[Callable[[], Any]] = None
_otel_loaded = False


def opentelemetry_source() -> Optional[Callable[[], Any]]:
    """The current-span lookup, or ``None`` when ``opentelemetry-api`` cannot be imported (tried once)."""
    global _otel, _otel_loaded
    if not _otel_loaded:
        with _lock:
            if not _otel_loaded:
                try:
                    from opentelemetry.context import get_current
                    from opentelemetry.trace import get_current_span
                except Exception:  # absent or broken: the feature is off, the application unaffected
                    _otel = None
                else:
                    _otel = _span_labels(get_current, get_current_span)
                _otel_loaded = True
    return _otel


def _span_labels(get_current: Callable[[], Any], get_current_span: Callable[[Any], Any]) -> Callable[[], Any]:
    def current_span() -> Any:
        context = get_current()
        if not context:  # nothing in the context, so no span: the common untraced case, kept to one call
            return None
        span = get_current_span(context).get_span_context()
        # The sampled bit first: without a span the context is INVALID_SPAN's, whose flags are 0.
        if span.trace_flags & 1 and span.is_valid:
            return span  # rendered as labels only if the request's series takes an exemplar (exemplar_interval)
        return None
    return current_span


def span_context_labels(span: Any) -> Dict[str, str]:
    """The exemplar labels of an OpenTelemetry span context."""
    return {"trace_id": format(span.trace_id, "032x"), "span_id": format(span.span_id, "016x")}


def _as_is(labels: Any) -> Dict[str, str]:
    return labels  # type: ignore[no-any-return]


def _guarded(source: ExemplarSource) -> ExemplarSource:
    """A user's source that can never break a request: errors and invalid labels give no exemplar."""
    warned = []

    def labels() -> Optional[Dict[str, str]]:
        try:
            found = source()
            if not found:
                return None
            _validate_exemplar(found)
            if not all(type(v) is str for v in found.values()):
                raise TypeError(f"exemplar label values must be str, got {found!r}")
            return found
        except Exception:
            if not warned:  # once: a broken source would otherwise log on every request
                warned.append(True)
                _log.warning("exemplar source %r failed; requests are recorded without exemplars", source,
                             exc_info=True)
            return None
    return labels


def resolve_source(exemplars: Union[str, ExemplarSource]) -> Tuple[Optional[Callable[[], Any]],
                                                                   Callable[[Any], Dict[str, str]]]:
    """The engine option ``exemplars`` as (capture, render), capture ``None`` when no exemplars are attached.

    ``capture()`` runs once per request, so it is kept cheap (the current span context, or ``None``);
    ``render(captured)`` builds the labels only for requests whose series takes an exemplar.
    """
    if exemplars == "off":
        return None, _as_is
    if exemplars == "auto":
        return opentelemetry_source(), span_context_labels
    if callable(exemplars):
        return _guarded(exemplars), _as_is
    raise ValueError(f"exemplars must be 'auto', 'off' or a function returning exemplar labels, not {exemplars!r}")
