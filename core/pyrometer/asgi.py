"""A pure ASGI app serving metrics (Starlette/FastAPI mounts, uvicorn, hypercorn, ...)."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any, Awaitable, Callable, List, MutableMapping, Optional
from urllib.parse import parse_qs

from ._negotiation import serve
from .protection import Protection
from .registry import REGISTRY, Collector

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _header(scope: Scope, name: bytes) -> str:
    """All values of one request header, joined by commas as HTTP allows."""
    values: List[str] = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == name]
    return ",".join(values)


def _relative_path(scope: Scope) -> str:
    """The path below the mount point (``root_path``), whichever convention the server follows."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return path or "/"


async def _lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown: the app has nothing to set up."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _client_host(scope: Scope) -> Optional[str]:
    client = scope.get("client")
    return str(client[0]) if client else None


def make_asgi_app(registry: Collector = REGISTRY, disable_compression: bool = False, *,
                  protection: Optional[Protection] = None) -> ASGIApp:
    """An ASGI app that serves ``registry``; rendering runs in a worker thread, off the event loop.

    ``protection`` checks ``scope["client"]`` and the ``Authorization`` header.
    """

    async def metrics_app(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1003})  # "unsupported data": refuse the upgrade
            return
        if kind != "http":
            raise ValueError(f"the metrics app serves HTTP only, not ASGI scope type {kind!r}")
        render = partial(
            serve,
            registry,
            scope.get("method", "GET"),
            _relative_path(scope),
            _header(scope, b"accept"),
            _header(scope, b"accept-encoding"),
            parse_qs(scope.get("query_string", b"").decode("utf-8", "replace")),
            disable_compression,
            protection=protection,
            authorization=_header(scope, b"authorization") or None,
            client_addr=_client_host(scope),
        )
        reply = await asyncio.get_running_loop().run_in_executor(None, render)
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    return metrics_app


__all__ = ["make_asgi_app"]
