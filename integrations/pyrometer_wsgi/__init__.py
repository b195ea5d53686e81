"""Request metrics for any WSGI application.

    from pyrometer_wsgi import MetricsMiddleware
    app = MetricsMiddleware(app, url_map=url_map)   # handler label from a Werkzeug Map

or, to only mount /metrics beside an app the way prometheus_client's docs show:

    from pyrometer_wsgi import mount_metrics
    app = mount_metrics(app)                        # Werkzeug DispatcherMiddleware
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from pyrometer.exposition import make_wsgi_app
from pyrometer.http import HttpMetrics
from pyrometer.http.wsgi import WSGIApp, WSGIInstrumentation
from pyrometer.protection import Protection
from pyrometer.registry import REGISTRY, CollectorRegistry

__all__ = ["MetricsMiddleware", "mount_metrics", "werkzeug_handler"]


class MetricsMiddleware(WSGIInstrumentation):
    """Measure every request of ``app`` with the shared engine and serve ``path``.

    The ``handler`` label comes from ``handler(environ)`` when given, else from
    ``url_map`` (a Werkzeug ``Map``); without either every request is ``none``,
    because a raw path never becomes a label. Engine options are keyword arguments.
    """

    def __init__(self, app: WSGIApp, *, url_map: Any = None,
                 handler: Optional[Callable[[Dict[str, Any]], Optional[str]]] = None,
                 path: Optional[str] = "/metrics", protection: Optional[Protection] = None,
                 disable_compression: bool = False, registry: Optional[CollectorRegistry] = REGISTRY,
                 **options: Any) -> None:
        if handler is None and url_map is not None:
            handler = werkzeug_handler(url_map)
        engine = HttpMetrics(registry=registry, **options)
        super().__init__(app, engine, metrics_path=path, handler=handler, protection=protection,
                         disable_compression=disable_compression)


def werkzeug_handler(url_map: Any) -> Callable[[Dict[str, Any]], Optional[str]]:
    """A handler function that matches the request against a Werkzeug ``Map`` and returns the rule."""
    def resolve(environ: Dict[str, Any]) -> Optional[str]:
        try:
            rule, _ = url_map.bind_to_environ(environ).match(return_rule=True)
        except Exception:  # NotFound, MethodNotAllowed, RequestRedirect: no route template to report
            return None
        return str(rule.rule)
    return resolve


def mount_metrics(app: WSGIApp, path: str = "/metrics", registry: CollectorRegistry = REGISTRY,
                  **kwargs: Any) -> WSGIApp:
    """Serve ``make_wsgi_app(registry)`` at ``path`` beside ``app`` with Werkzeug's DispatcherMiddleware."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    return DispatcherMiddleware(app, {path: make_wsgi_app(registry, **kwargs)})  # type: ignore[return-value]
