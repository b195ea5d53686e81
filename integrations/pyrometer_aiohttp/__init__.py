"""Request metrics and /metrics for aiohttp in one line: ``setup_metrics(app)``.

    from aiohttp import web
    from pyrometer_aiohttp import setup_metrics

    app = web.Application()
    setup_metrics(app)                      # or app.middlewares.append(metrics_middleware(...))

Every request is measured by the shared engine (``pyrometer.http``) with
``handler`` = the canonical path of the matched resource (``/users/{id}``);
requests that match no route are ``handler="none"``. The engine options
(``preset``, ``namespace``, ``buckets``, ``excluded_paths``, ``group_status``,
``metrics``, ``const_labels``, ``extra_labels``, ``registry``, ...) are keyword
arguments.

aiohttp writes a returned ``Response``'s body after the middleware chain has
returned, so the duration runs until the handler returns: for a ``StreamResponse``
the handler prepared and wrote itself, that is until it returns the response
(after its last ``write``); for an ordinary ``Response``, sending the body is not
included.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any, Awaitable, Callable, Optional

from aiohttp import web
from pyrometer.aiohttp.exposition import scrape_handler
from pyrometer.http import HttpMetrics, RequestTimer, scrape_registry
from pyrometer.protection import Protection

__all__ = ["metrics_middleware", "setup_metrics"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

_SCRAPE = "_pyrometer_scrape"  # marks the /metrics handler, which is not measured
_ENGINE = "_pyrometer_engine"  # marks our middleware (and says which engine it feeds)
# Where the request's timer waits for on_response_prepare (time to first byte of a stream).
_TIMER: Any = web.RequestKey("pyrometer_timer", RequestTimer) if hasattr(web, "RequestKey") else "pyrometer.timer"


def metrics_middleware(engine: Optional[HttpMetrics] = None, /, **options: Any) -> Middleware:
    """An aiohttp middleware measuring every request, fed to ``engine`` or to one built from ``options``.

    Put it first in ``app.middlewares`` so it sees the final status: an exception that an
    inner middleware turns into a response is counted as that response.
    """
    if engine is None:
        engine = HttpMetrics(**options)
    elif options:
        raise TypeError("metrics_middleware takes an HttpMetrics engine or engine options, not both")
    metrics = engine
    ttfb = bool(engine.metric("ttfb"))

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        match_info = request.match_info
        if getattr(match_info.handler, _SCRAPE, False):
            return await handler(request)
        timer = metrics.start(request.method, request.path, request=request if metrics.needs_request else None)
        if timer is None:
            return await handler(request)
        resource = match_info.route.resource  # None when no route matched (404, 405)
        timer.set_handler(resource.canonical if resource is not None else _method_not_allowed_route(request))
        if ttfb:
            request[_TIMER] = timer
        request_size = request.content_length
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # raised 404, redirect...: an ordinary response
            timer.first_byte()
            timer.finish(exc.status, request_size=request_size, response_size=_size(exc))
            raise
        except asyncio.CancelledError:  # the client went away and aiohttp cancelled the handler
            timer.finish(499, request_size=request_size)
            raise
        except asyncio.TimeoutError as exc:  # aiohttp answers 504 for it
            timer.finish(504, request_size=request_size, exception=exc)
            raise
        except Exception as exc:  # aiohttp answers 500
            timer.finish(500, request_size=request_size, exception=exc)
            raise
        except BaseException:  # KeyboardInterrupt, SystemExit: not a request outcome
            timer.cancel()
            raise
        timer.first_byte()  # a body in memory is complete now; a stream marked it when it was prepared
        timer.finish(response.status, request_size=request_size, response_size=_size(response))
        return response

    setattr(middleware, _ENGINE, engine)
    return middleware


def setup_metrics(app: web.Application, *, path: str = "/metrics", protection: Optional[Protection] = None,
                  disable_compression: bool = False, **options: Any) -> HttpMetrics:
    """Measure every request of ``app`` (middleware first in line) and serve the metrics at ``path``.

    Returns the engine. The scrape renders in a worker thread, multiprocess merge included;
    ``protection`` guards ``path`` only.
    """
    if any(hasattr(m, _ENGINE) for m in app.middlewares):
        raise ValueError("This aiohttp app is already instrumented by pyrometer")
    engine = HttpMetrics(**options)
    app.middlewares.insert(0, metrics_middleware(engine))
    app.on_response_prepare.append(_first_byte)
    handler = scrape_handler(partial(scrape_registry, engine.registry), disable_compression,
                             protection=protection)
    setattr(handler, _SCRAPE, True)
    app.router.add_route("*", path, handler)
    return engine


async def _first_byte(request: web.Request, response: web.StreamResponse) -> None:
    timer = request.get(_TIMER)
    if timer is not None:
        timer.first_byte()


def _size(response: web.StreamResponse) -> Optional[int]:
    """Body bytes: an unsent ``Response``'s body, else the ``Content-Length`` set (chunked streams: unknown)."""
    return response.content_length


def _method_not_allowed_route(request: web.Request) -> Optional[str]:
    """For a 405, the canonical path of the resource the path matched (as the other adapters report)."""
    if not isinstance(request.match_info.http_exception, web.HTTPMethodNotAllowed):
        return None
    path = request.rel_url.path
    for resource in request.app.router.resources():
        info = resource.get_info()
        pattern = info.get("pattern")
        if (pattern is not None and pattern.fullmatch(path)) or info.get("path") == path:
            return resource.canonical
    return None
