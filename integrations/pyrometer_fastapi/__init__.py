"""Request metrics and /metrics for FastAPI and Starlette in one line.

    from pyrometer_fastapi import PrometheusMiddleware
    app.add_middleware(PrometheusMiddleware)                  # measures requests, serves /metrics

or, the way prometheus-fastapi-instrumentator users write it:

    from pyrometer_fastapi import instrument
    instrument(app).expose(app)                               # /metrics as a route of the app

Every HTTP request is measured by the shared engine (``pyrometer.http``) with
``handler`` = the matched route's template, mounts and router prefixes included
(``/api/v1/users/{user_id}``); requests that match no route are ``none``. The
engine options (``preset``, ``namespace``, ``buckets``, ``excluded_paths``,
``group_status``, ``metrics``, ``const_labels``, ``extra_labels``, ...) are
keyword arguments. Websocket and lifespan traffic passes through untouched.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from pyrometer.http import HttpMetrics
from pyrometer.http.asgi import PENDING, SKIP_KEY, ASGIApp, ASGIInstrumentation, MetricsEndpoint, Scope
from pyrometer.protection import Protection
from pyrometer.registry import REGISTRY, CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

try:  # FastAPI >= 0.16x keeps included routers as one route; this lists what they route to
    from fastapi.routing import iter_route_contexts as _route_contexts  # type: ignore[attr-defined]
except ImportError:  # older FastAPI copies included routes into the app; plain Starlette has no such thing
    _route_contexts = None

__all__ = ["Instrumentator", "PrometheusMiddleware", "instrument"]

_ENTRY_KEY = "pyrometer.entry"


class PrometheusMiddleware(ASGIInstrumentation):
    """Pure ASGI middleware for ``app.add_middleware(PrometheusMiddleware, **options)``.

    ``path`` is where /metrics is served (``None``: not served here); ``protection``
    guards it. ``engine`` lets several apps share one ``HttpMetrics``; otherwise one is
    built from ``registry`` and the engine options.
    """

    def __init__(self, app: ASGIApp, *, path: Optional[str] = "/metrics", protection: Optional[Protection] = None,
                 disable_compression: bool = False, registry: Optional[CollectorRegistry] = REGISTRY,
                 engine: Optional[HttpMetrics] = None, **options: Any) -> None:
        if engine is None:
            engine = HttpMetrics(registry=registry, **options)
        elif options:
            raise TypeError(f"engine options {sorted(options)} go to the HttpMetrics passed as engine=")
        self.routes = _RouteTemplates()
        super().__init__(app, engine, metrics_path=path, handler=self.routes, protection=protection,
                         disable_compression=disable_compression, request_factory=_request)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if self.routes.app is None:
                # The Starlette/FastAPI app whose middleware this is (a mounted sub-app replaces scope["app"] later).
                self.routes.app = scope.get("app") or self.app
            # Where the request entered the app: mounts rewrite root_path (and, before Starlette 0.33, path).
            scope[_ENTRY_KEY] = (scope.get("path", ""), scope.get("root_path", ""))
        await super().__call__(scope, receive, send)


def _request(scope: Scope) -> Request:
    # What extra_labels functions get: headers, query, path... never the body, which belongs to the endpoint.
    return Request(scope)


class _RouteTemplates:
    """The ``handler`` function of the middleware: the template of the route Starlette chose.

    After routing, ``scope["route"]`` is the innermost matched route; a table built
    once from the app's route tree gives its full template (mount and router prefixes
    included) in one dict lookup. Where the table cannot tell — a route reachable by
    two prefixes, a route it does not know, a scope copied before routing — the
    request is matched against ``app.routes`` the way Starlette does.
    """

    def __init__(self) -> None:
        self.app: Any = None
        self.unmeasured: set = set()  # templates of routes that are never measured (the exposed /metrics)
        self._table: Dict[int, Tuple[Any, Optional[str], bool]] = {}
        self._signature: Any = None

    def __call__(self, scope: Scope, final: bool) -> Any:
        template = self._resolve(scope, final)
        if template is not PENDING and template is not None and template in self.unmeasured:
            state = scope.get("state")
            if isinstance(state, dict):
                state[SKIP_KEY] = True
        return template

    def _resolve(self, scope: Scope, final: bool) -> Any:
        route = scope.get("route")
        if route is None:
            # Nothing matched, or a router that does not record its choice (FastAPI's, for mounts),
            # or routing on a copy of the scope: once routing is surely over, route again.
            return _match_from_top(self._routes(), scope) if final else PENDING
        entry = self._table.get(id(route))
        if entry is None or entry[0] is not route:
            entry = self._rebuilt().get(id(route))
        if entry is not None and entry[0] is route and entry[1] is not None:
            _, template, has_children = entry
            if not has_children:
                return template
            if not final:  # a mount: its own router has not run yet
                return PENDING
            return _match(_children(route) or [], scope, template)  # scope is already below the mount
        if not final:
            return PENDING
        return _match_from_top(self._routes(), scope)  # ambiguous or unknown route

    def _routes(self) -> List[Any]:
        return list(getattr(self.app, "routes", None) or [])

    def _rebuilt(self) -> Dict[int, Tuple[Any, Optional[str], bool]]:
        routes = self._routes()
        signature = (len(routes), id(routes[-1]) if routes else None)
        if signature != self._signature or not self._table:
            table: Dict[int, Tuple[Any, Optional[str], bool]] = {}
            _walk(routes, "", table, set())
            self._table = table
            self._signature = signature
        return self._table


def _flat(routes: Iterable[Any]) -> Iterator[Any]:
    """The routes, with FastAPI's included routers replaced by the routes they hold (prefixes applied)."""
    if _route_contexts is None:
        yield from routes
        return
    for route in routes:
        if hasattr(route, "effective_route_contexts"):  # FastAPI's _IncludedRouter
            yield from _route_contexts([route])
        else:
            yield route


def _children(route: Any) -> Optional[List[Any]]:
    """The routes below a mount or host (``[]`` for a mounted app without routes); ``None`` for a leaf."""
    if not hasattr(route, "routes"):
        return None
    try:
        return list(route.routes or [])
    except Exception:  # a mount whose app refuses the question has no routes we can see
        return []


def _template(route: Any, prefix: str) -> str:
    return prefix + (getattr(route, "path", None) or "")  # a Host adds nothing to the path


def _walk(routes: Iterable[Any], prefix: str, table: Dict[int, Tuple[Any, Optional[str], bool]],
          seen: set) -> None:
    for item in _flat(routes):
        route = getattr(item, "original_route", item)  # what Starlette/FastAPI put in scope["route"]
        template = _template(item, prefix)
        children = _children(item)
        key = id(route)
        known = table.get(key)
        if known is not None and known[1] != template:
            table[key] = (route, None, False)  # two templates for one route object: match per request
        elif known is None:
            table[key] = (route, template, bool(children))
        if children and id(item) not in seen:
            seen.add(id(item))  # a router mounted inside itself must not loop forever
            _walk(children, template, table, seen)


def _match_from_top(routes: Iterable[Any], scope: Scope) -> Optional[str]:
    """Match ``scope`` as it was when the request entered the app, before any mount rewrote it."""
    entry = scope.get(_ENTRY_KEY)
    if entry is not None:
        scope = {**scope, "path": entry[0], "root_path": entry[1]}
    return _match(routes, scope, "")


def _match(routes: Iterable[Any], scope: Scope, prefix: str) -> Optional[str]:
    """Starlette's own matching over ``routes``: the full template of the route that handles ``scope``."""
    partial: Optional[str] = None
    for route in _flat(routes):
        try:
            match, child_scope = route.matches(scope)
        except Exception:  # a route type that cannot judge this scope does not match it
            continue
        if match is Match.NONE:
            continue
        template = _template(route, prefix)
        children = _children(route)
        if match is Match.FULL:
            if children:
                return _match(children, {**scope, **child_scope}, template)
            return template
        if partial is None and not children:
            partial = template  # e.g. the method is not allowed: Starlette answers 405 from this route
    return partial


class Instrumentator:
    """``instrument(app)``: the middleware on ``app``; ``.expose(app)`` adds the /metrics route."""

    def __init__(self, app: Any, *, registry: Optional[CollectorRegistry] = REGISTRY, **options: Any) -> None:
        self.registry = registry
        self.engine = HttpMetrics(registry=registry, **options)  # bad options fail here, not at the first request
        self._unmeasured: set = set()
        app.add_middleware(_InstrumentatorMiddleware, engine=self.engine, unmeasured=self._unmeasured)

    def expose(self, app: Any, endpoint: str = "/metrics", include_in_schema: bool = False,
               protection: Optional[Protection] = None, disable_compression: bool = False,
               **kwargs: Any) -> Instrumentator:
        """Serve the metrics at ``endpoint`` as a route of ``app`` (a FastAPI route when ``app`` is FastAPI)."""
        serve = MetricsEndpoint(self.registry, protection=protection, disable_compression=disable_compression)

        async def metrics(request: Request) -> Response:
            captured: Dict[str, Any] = {}
            body: List[bytes] = []

            async def keep(message: Any) -> None:
                if message["type"] == "http.response.start":
                    captured.update(message)
                else:
                    body.append(message.get("body", b""))

            await serve(request.scope, request.receive, keep)
            response = Response(b"".join(body), status_code=captured["status"])
            response.raw_headers = list(captured["headers"])
            return response

        self._unmeasured.add(endpoint)
        if hasattr(app, "add_api_route"):  # FastAPI: a path operation, listed in the schema if asked
            app.add_api_route(endpoint, metrics, methods=["GET"], include_in_schema=include_in_schema,
                              response_class=Response, **kwargs)
        else:
            app.add_route(endpoint, metrics, methods=["GET"], include_in_schema=include_in_schema, **kwargs)
        return self


class _InstrumentatorMiddleware(PrometheusMiddleware):
    def __init__(self, app: ASGIApp, *, engine: HttpMetrics, unmeasured: set) -> None:
        super().__init__(app, path=None, engine=engine)
        self.routes.unmeasured = unmeasured


def instrument(app: Any, **options: Any) -> Instrumentator:
    """Measure ``app``'s requests (engine options as keywords); chain ``.expose(app)`` to serve /metrics."""
    return Instrumentator(app, **options)
