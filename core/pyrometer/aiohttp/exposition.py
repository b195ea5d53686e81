"""``make_aiohttp_handler``: a request handler serving a registry from an aiohttp app."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Awaitable, Callable, Optional

try:
    from aiohttp import hdrs, web
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("pyrometer.aiohttp needs aiohttp: pip install 'pyrometer[aiohttp]'") from exc

from .._negotiation import serve
from ..protection import Protection
from ..registry import REGISTRY, Collector

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_aiohttp_handler(registry: Collector = REGISTRY, disable_compression: bool = False, *,
                         protection: Optional[Protection] = None) -> Handler:
    """A handler for ``app.router.add_get("/metrics", ...)``; rendering runs in a worker thread.

    ``protection`` checks ``request.remote`` and the ``Authorization`` header.
    """

    async def metrics_handler(request: web.Request) -> web.Response:
        render = partial(
            serve,
            registry,
            request.method,
            request.path,
            ",".join(request.headers.getall(hdrs.ACCEPT, [])),
            ",".join(request.headers.getall(hdrs.ACCEPT_ENCODING, [])),
            {key: request.query.getall(key) for key in request.query.keys()},
            disable_compression,
            protection=protection,
            authorization=request.headers.get(hdrs.AUTHORIZATION),
            client_addr=request.remote,
        )
        reply = await asyncio.get_running_loop().run_in_executor(None, render)
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)

    return metrics_handler
