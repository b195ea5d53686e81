"""Per-view control: leave a view out, or give it metrics of its own.

    from pyrometer_django.decorators import counter, exclude_from_metrics, histogram

    @exclude_from_metrics
    def ping(request): ...

    @counter("poll_votes_total", "Votes cast.", labels={"status": lambda response: response.status_code})
    @histogram("poll_vote_seconds", "Time to record a vote.")
    async def vote(request, question_id): ...

Each works on function views (sync and async) and on ``View`` classes (sync and
async handlers; the class's ``dispatch`` is measured). The custom metrics are the
shared engine's ``pyrometer.http.ViewMetric``: counters count the view's requests,
histograms and summaries observe its duration, gauges track its requests in
progress; a label is a constant or a function of the response (``None`` when the
view raised) or of ``(request, response)``. They are registered in
``PYROMETER["registry"]`` (``REGISTRY`` by default) when the view is decorated.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Awaitable, Callable, Dict, Optional, TypeVar

from asgiref.sync import iscoroutinefunction
from pyrometer.http import ViewMeasurement, ViewMetric
from pyrometer.registry import REGISTRY

from ._config import options
from .views import do_not_track

__all__ = ["counter", "do_not_track", "exclude_from_metrics", "gauge", "histogram", "summary", "view_metric"]

V = TypeVar("V")

exclude_from_metrics = do_not_track
"""Leave a view (function or ``View`` class) out of the request metrics: no series at all for its requests."""


def counter(name: str, documentation: str, labels: Optional[Dict[str, Any]] = None,
            **kwargs: Any) -> Callable[[V], V]:
    """Count the requests of a view."""
    return view_metric(ViewMetric("counter", name, documentation, labels, registry=_registry(kwargs), **kwargs))


def histogram(name: str, documentation: str, labels: Optional[Dict[str, Any]] = None,
              **kwargs: Any) -> Callable[[V], V]:
    """Observe the duration of a view in a histogram (``buckets=`` as for ``Histogram``)."""
    return view_metric(ViewMetric("histogram", name, documentation, labels, registry=_registry(kwargs), **kwargs))


def summary(name: str, documentation: str, labels: Optional[Dict[str, Any]] = None,
            **kwargs: Any) -> Callable[[V], V]:
    """Observe the duration of a view in a summary."""
    return view_metric(ViewMetric("summary", name, documentation, labels, registry=_registry(kwargs), **kwargs))


def gauge(name: str, documentation: str, labels: Optional[Dict[str, Any]] = None,
          **kwargs: Any) -> Callable[[V], V]:
    """Track the requests of a view in progress."""
    return view_metric(ViewMetric("gauge", name, documentation, labels, registry=_registry(kwargs), **kwargs))


def _registry(kwargs: Dict[str, Any]) -> Any:
    return kwargs.pop("registry") if "registry" in kwargs else options().get("registry", REGISTRY)


def view_metric(metric: ViewMetric) -> Callable[[V], V]:
    """A decorator updating ``metric`` for every request of the view it decorates."""
    if not isinstance(metric, ViewMetric):
        raise TypeError(f"view_metric() takes a pyrometer.http.ViewMetric, not {type(metric).__name__}")

    def decorate(view: V) -> V:
        if inspect.isclass(view):
            dispatch = getattr(view, "dispatch", None)
            if dispatch is None:
                raise TypeError(f"{view.__name__} has no dispatch(): decorate a django.views.View subclass")
            view.dispatch = _measured(dispatch, metric, request_arg=1)  # type: ignore[attr-defined]
            return view
        if not callable(view):
            raise TypeError(f"Cannot measure {view!r}: decorate a view function or a View class")
        return _measured(view, metric, request_arg=0)  # type: ignore[return-value]
    return decorate


def _measured(func: Callable[..., Any], metric: ViewMetric, request_arg: int) -> Callable[..., Any]:
    """``func`` wrapped to update ``metric``; ``args[request_arg]`` is the request."""
    if iscoroutinefunction(func):
        @functools.wraps(func)
        async def async_view(*args: Any, **kwargs: Any) -> Any:
            measurement = metric.measure(args[request_arg])
            return await _measure_async(func(*args, **kwargs), measurement)
        return async_view

    @functools.wraps(func)
    def view(*args: Any, **kwargs: Any) -> Any:
        measurement = metric.measure(args[request_arg])
        try:
            response = func(*args, **kwargs)
        except BaseException:
            measurement.done(None)
            raise
        if inspect.isawaitable(response):  # an async View's dispatch returns its handler's coroutine
            return _measure_async(response, measurement)
        measurement.done(response)
        return response
    return view


async def _measure_async(awaitable: Awaitable[Any], measurement: ViewMeasurement) -> Any:
    try:
        response = await awaitable
    except BaseException:
        measurement.done(None)
        raise
    measurement.done(response)
    return response
