"""Request metrics and /metrics for Flask in one line: ``FlaskMetrics(app)``.

    from flask import Flask
    from pyrometer_flask import FlaskMetrics

    app = Flask(__name__)
    metrics = FlaskMetrics(app)             # or FlaskMetrics() + metrics.init_app(app)

    @app.get("/users/<int:user_id>")
    @metrics.counter("user_lookups_total", "User lookups.", labels={"status": lambda r: r.status_code})
    def user(user_id): ...

Every request is measured by the shared engine (``pyrometer.http``) with
``handler`` = the URL rule (``/users/<int:user_id>``); the engine options
(``preset``, ``namespace``, ``buckets``, ``excluded_paths``, ``group_status``,
``metrics``, ``const_labels``, ``extra_labels``, ...) are keyword arguments.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Optional, TypeVar

from flask import Flask, current_app, got_request_exception, make_response, request
from pyrometer.http import HttpMetrics, ViewMetric
from pyrometer.http.wsgi import BODY_SIZE_KEY, EXCEPTION_KEY, SKIP_KEY, TIMER_KEY, WSGIInstrumentation
from pyrometer.metrics import Gauge
from pyrometer.protection import Protection
from pyrometer.registry import REGISTRY, CollectorRegistry
from werkzeug.exceptions import HTTPException

__all__ = ["FlaskMetrics"]

F = TypeVar("F", bound=Callable[..., Any])
_UNTRACKED = "_pyrometer_untracked"


class FlaskMetrics:
    """Prometheus metrics for one or more Flask apps sharing one registry.

    ``path`` is where /metrics is served (``None``: not served, e.g. when
    ``start_http_server`` serves it); ``protection`` guards it.
    """

    def __init__(self, app: Optional[Flask] = None, *, path: Optional[str] = "/metrics",
                 protection: Optional[Protection] = None, disable_compression: bool = False,
                 registry: Optional[CollectorRegistry] = REGISTRY, **options: Any) -> None:
        self.path = path
        self.registry = registry
        self._protection = protection
        self._disable_compression = disable_compression
        # Built now, so a bad option fails here rather than at init_app; every app shares it.
        self.engine = HttpMetrics(registry=registry, **options)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Instrument ``app`` and serve ``path`` from it (again on the same app: nothing to do)."""
        current = app.extensions.get("pyrometer")
        if current is self:
            return
        if current is not None:
            raise ValueError("This Flask app is already instrumented by another FlaskMetrics")
        app.extensions["pyrometer"] = self
        request_class = app.request_class

        def request_for_labels(environ: Dict[str, Any]) -> Any:
            # What extra_labels functions get: headers, args, path... but never the body,
            # which belongs to the view (shallow: reading it raises, and the label is _OTHER).
            return request_class(environ, populate_request=False, shallow=True)

        app.wsgi_app = WSGIInstrumentation(  # type: ignore[method-assign]
            app.wsgi_app, self.engine, metrics_path=self.path, protection=self._protection,
            disable_compression=self._disable_compression, request_factory=request_for_labels)
        # First of the app's before_request functions: one registered earlier may answer the request
        # itself (a login check), and the route and in-progress gauge must be known by then.
        app.before_request_funcs.setdefault(None, []).insert(0, _route_known_hook(app.view_functions))
        app.after_request(_body_known)
        # A signal that fires only for unhandled exceptions costs nothing on other requests; a teardown
        # function runs on every one (about 1 µs). Flask 2.2 without blinker has no working signals.
        try:
            got_request_exception.connect(_on_exception, app, weak=False)
        except Exception:
            app.teardown_request(_remember_exception)

    # -- per-view control -------------------------------------------------------

    def do_not_track(self) -> Callable[[F], F]:
        """Leave a view out of the request metrics."""
        def mark(f: F) -> F:
            setattr(f, _UNTRACKED, True)
            return f
        return mark

    def counter(self, name: str, documentation: str, labels: Optional[Dict[str, Any]] = None,
                **kwargs: Any) -> Callable[[F], F]:
        """Count the requests of a view (labels may be functions of the response)."""
        return self._view_metric("counter", name, documentation, labels, kwargs)

    def histogram(self, name: str, documentation: str, labels: Optional[Dict[str, Any]] = None,
                  **kwargs: Any) -> Callable[[F], F]:
        """Observe the duration of a view in a histogram."""
        return self._view_metric("histogram", name, documentation, labels, kwargs)

    def summary(self, name: str, documentation: str, labels: Optional[Dict[str, Any]] = None,
                **kwargs: Any) -> Callable[[F], F]:
        """Observe the duration of a view in a summary."""
        return self._view_metric("summary", name, documentation, labels, kwargs)

    def gauge(self, name: str, documentation: str, labels: Optional[Dict[str, Any]] = None,
              **kwargs: Any) -> Callable[[F], F]:
        """Track the requests of a view in progress."""
        return self._view_metric("gauge", name, documentation, labels, kwargs)

    def info(self, name: str, documentation: str, **labels: str) -> Gauge:
        """A gauge set to 1 with constant labels, e.g. ``metrics.info('app_info', 'App.', version='1.2')``."""
        gauge = Gauge(name, documentation, list(labels), registry=self.registry)
        (gauge.labels(**labels) if labels else gauge).set(1)
        return gauge

    def _view_metric(self, kind: str, name: str, documentation: str, labels: Optional[Dict[str, Any]],
                     kwargs: Dict[str, Any]) -> Callable[[F], F]:
        vm = ViewMetric(kind, name, documentation, labels, registry=self.registry, **kwargs)

        def decorate(f: F) -> F:
            @functools.wraps(f)
            def view(*args: Any, **kw: Any) -> Any:
                measurement = vm.measure(request)
                try:
                    response = make_response(f(*args, **kw))
                except HTTPException as exc:  # abort(404): label functions see the error response
                    measurement.done(exc.get_response())
                    raise
                except BaseException:
                    measurement.done(None)
                    raise
                measurement.done(response)
                return response
            return view  # type: ignore[return-value]
        return decorate


def _route_known_hook(view_functions: Dict[str, Any]) -> Callable[[], None]:
    """The app's first before_request function: the route is known, the request is in progress."""
    def route_known() -> None:
        # One resolution of the `request` proxy, not one per attribute: each costs about a microsecond.
        # The app's view table is bound here for the same reason (no `current_app` proxy per request).
        req = request._get_current_object()  # type: ignore[attr-defined]
        environ = req.environ
        timer = environ.get(TIMER_KEY)
        if timer is None:
            return
        endpoint = req.endpoint
        view = view_functions.get(endpoint) if endpoint else None
        if view is not None and getattr(view, _UNTRACKED, False):
            environ[SKIP_KEY] = True  # no series at all for this view, not even in-progress
            return
        rule = req.url_rule
        timer.set_handler(str(rule.rule) if rule is not None else _template())
    return route_known


def _template() -> Optional[str]:
    """The URL rule of the request; for a 405 the rule the path matched (bounded, and what other adapters report)."""
    rule = request.url_rule
    if rule is not None:
        return str(rule.rule)
    exc = request.routing_exception
    methods = getattr(exc, "valid_methods", None)
    if methods:
        try:
            adapter = current_app.url_map.bind_to_environ(request.environ)
            matched, _ = adapter.match(method=next(iter(methods)), return_rule=True)
            return str(matched.rule)
        except Exception:  # no rule after all: the request counts as unmatched
            return None
    return None


def _body_known(response: Any) -> Any:
    # A body held in memory is complete now; only a streamed one must be timed to its last chunk.
    # Flask's own error pages are in memory too, wrapped in an iterator but with a Content-Length.
    environ = request._get_current_object().environ  # type: ignore[attr-defined]
    timer = environ.get(TIMER_KEY)
    if timer is not None:
        if timer.handler is None and not environ.get(SKIP_KEY):  # before_request was cut short
            timer.set_handler(_template())
        if response.is_sequence:
            environ[BODY_SIZE_KEY] = response.calculate_content_length() or 0
        elif response.status_code >= 400 and response.content_length is not None:
            environ[BODY_SIZE_KEY] = response.content_length
    return response


def _remember_exception(exc: Optional[BaseException]) -> None:
    if exc is not None:
        request.environ.setdefault(EXCEPTION_KEY, exc)


def _on_exception(sender: Any, exception: BaseException, **extra: Any) -> None:
    request.environ.setdefault(EXCEPTION_KEY, exception)
