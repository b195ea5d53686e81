"""``make_aiohttp_handler``: a request handler serving a registry from an aiohttp app."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Optional

try:
    from aiohttp import hdrs, web
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("pyrometer.aiohttp needs aiohttp: pip install 'pyrometer[aiohttp]'") from exc

from .._negotiation import Reply, serve
from ..protection import Protection
from ..registry import REGISTRY, Collector

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_aiohttp_handler(registry: Collector = REGISTRY, disable_compression: bool = False, *,
                         protection: Optional[Protection] = None) -> Handler:
    """A handler for ``app.router.add_get("/metrics", ...)``; rendering runs in a worker thread.

    ``protection`` checks ``request.remote`` and the ``Authorization`` header.
    """
    return scrape_handler(lambda: registry, disable_compression, protection=protection)


def scrape_handler(source: Callable[[], Collector], disable_compression: bool = False, *,
                   protection: Optional[Protection] = None) -> Handler:
    """Like ``make_aiohttp_handler``, reading the registry ``source()`` returns at each scrape.

    ``source`` runs in the worker thread with the rendering, so it may be slow: e.g.
    ``pyrometer.http.scrape_registry``, which merges every worker's files in multiprocess mode.
    """

    async def metrics_handler(request: web.Request) -> web.Response:
        method = request.method
        path = request.path
        accept = ",".join(request.headers.getall(hdrs.ACCEPT, []))
        accept_encoding = ",".join(request.headers.getall(hdrs.ACCEPT_ENCODING, []))
        params = {key: request.query.getall(key) for key in request.query.keys()}
        authorization = request.headers.get(hdrs.AUTHORIZATION)
        client_addr = request.remote

        def render() -> Reply:
            return serve(source(), method, path, accept, accept_encoding, params, disable_compression,
                         protection=protection, authorization=authorization, client_addr=client_addr)

        reply = await asyncio.get_running_loop().run_in_executor(None, render)
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)

    return metrics_handler
