"""Custom per-view metrics: one metric whose labels are computed from the request and response."""

from __future__ import annotations

import inspect
from time import perf_counter
from typing import Any, Callable, Dict, Mapping, Optional

from ..metrics import Counter, Gauge, Histogram, Summary
from ..registry import REGISTRY, CollectorRegistry

_TYPES = {"counter": Counter, "gauge": Gauge, "histogram": Histogram, "summary": Summary}

LabelValue = Callable[..., Any]


class ViewMetric:
    """A metric a view opts into, updated once per request of that view.

    ``labels`` maps label names to constants or to functions. A function taking
    one argument gets the response (or ``None`` when the view raised); one taking
    two gets ``(request, response)``; one taking none is just called (it may read
    the framework's request global, as prometheus-flask-exporter's label functions do).
    Counters count requests, histograms and summaries observe the duration, gauges
    track the requests in progress.
    """

    def __init__(self, kind: str, name: str, documentation: str, labels: Optional[Mapping[str, Any]] = None,
                 registry: Optional[CollectorRegistry] = REGISTRY, **kwargs: Any) -> None:
        if kind not in _TYPES:
            raise ValueError(f"Unknown metric kind {kind!r}; choose one of {sorted(_TYPES)}")
        self.kind = kind
        self._labels: Dict[str, Any] = dict(labels or {})
        self._values = [_label(v) for v in self._labels.values()]  # each: (request, response) -> str
        self.metric = _TYPES[kind](name, documentation, list(self._labels), registry=registry, **kwargs)

    def _child(self, request: Any, response: Any) -> Any:
        if not self._values:
            return self.metric
        return self.metric.labels(*[value(request, response) for value in self._values])

    def started(self, request: Any) -> Optional[Any]:
        """Called when the view starts; returns the gauge child to lower at the end (gauges only)."""
        if self.kind != "gauge":
            return None
        child = self._child(request, None)
        child.inc()
        return child

    def measure(self, request: Any) -> ViewMeasurement:
        """Start one request of the view; call ``done(response)`` on the result when it returned or raised."""
        return ViewMeasurement(self, request)

    def finished(self, request: Any, response: Any, duration: float, gauge_child: Optional[Any] = None) -> None:
        """Called when the view returned (``response``) or raised (``response`` is ``None``)."""
        if self.kind == "gauge":
            if gauge_child is not None:
                gauge_child.dec()
        elif self.kind == "counter":
            self._child(request, response).inc()
        else:
            self._child(request, response).observe(duration)


class ViewMeasurement:
    """One request of a view measured by a ``ViewMetric``: its start time and in-progress gauge child."""

    __slots__ = ("_gauge_child", "_metric", "_request", "_started")

    def __init__(self, metric: ViewMetric, request: Any) -> None:
        self._metric = metric
        self._request = request
        self._started = perf_counter()
        self._gauge_child = metric.started(request)

    def done(self, response: Any) -> None:
        """The view returned ``response``, or raised (``None``)."""
        self._metric.finished(self._request, response, perf_counter() - self._started, self._gauge_child)


def _label(value: Any) -> Callable[[Any, Any], str]:
    """How to compute one label value from ``(request, response)``, decided once per label."""
    if not callable(value):
        text = str(value)
        return lambda request, response: text
    arity = _arity(value)

    def compute(request: Any, response: Any) -> str:
        try:
            if arity == 0:
                return str(value())
            return str(value(request, response) if arity >= 2 else value(response))
        except Exception:  # a broken label function must not break the view it measures
            return "_OTHER"
    return compute


def _arity(fn: Callable[..., Any]) -> int:
    code = getattr(fn, "__code__", None)
    if code is None:
        return 1
    if code.co_flags & inspect.CO_VARARGS:
        return 2
    return code.co_argcount - (1 if getattr(fn, "__self__", None) is not None else 0)
