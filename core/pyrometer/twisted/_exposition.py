"""``MetricsResource``: a twisted.web resource serving a registry."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

try:
    from twisted.internet.threads import deferToThreadPool
    from twisted.web.resource import Resource
    from twisted.web.server import NOT_DONE_YET, Request
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("pyrometer.twisted needs Twisted: pip install 'pyrometer[twisted]'") from exc

from .._negotiation import Reply, logger, serve
from ..protection import Protection
from ..registry import REGISTRY, Collector


def _header(request: Request, name: bytes) -> str:
    values = request.requestHeaders.getRawHeaders(name, [])
    return ",".join(v.decode("latin-1") for v in values)


def _params(request: Request) -> Dict[str, List[str]]:
    args = request.args or {}
    return {k.decode("utf-8", "replace"): [v.decode("utf-8", "replace") for v in vs] for k, vs in args.items()}


class MetricsResource(Resource):
    """Leaf resource answering every method like the other metrics endpoints.

    Rendering runs in the reactor's thread pool, so a large scrape does not stall
    the reactor. ``reactor`` defaults to the global one, looked up per request.
    ``protection`` checks the client's address and the ``Authorization`` header.
    """

    isLeaf = True

    def __init__(self, registry: Collector = REGISTRY, disable_compression: bool = False,
                 reactor: Optional[Any] = None, *, protection: Optional[Protection] = None) -> None:
        """Serve ``registry``; gzip when the scraper accepts it unless ``disable_compression``."""
        super().__init__()
        self.registry = registry
        self.disable_compression = disable_compression
        self.protection = protection
        self._reactor = reactor

    def render(self, request: Request) -> Any:
        """Start rendering in a worker thread and answer when it is done."""
        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor
        gone: List[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        deferred = deferToThreadPool(
            reactor, reactor.getThreadPool(), serve,
            self.registry,
            request.method.decode("latin-1"),
            request.path.decode("utf-8", "replace"),
            _header(request, b"accept"),
            _header(request, b"accept-encoding"),
            _params(request),
            self.disable_compression,
            protection=self.protection,
            authorization=_header(request, b"authorization") or None,
            client_addr=getattr(request.getClientAddress(), "host", None),
        )
        deferred.addCallback(self._answer, request, gone)
        deferred.addErrback(lambda failure: logger.error("answering a scrape failed:\n%s", failure.getTraceback()))
        return NOT_DONE_YET

    def render_GET(self, request: Request) -> Any:
        """Serve a scrape (``render`` handles every method; kept for code that calls it directly)."""
        return self.render(request)

    @staticmethod
    def _answer(reply: Reply, request: Request, gone: List[bool]) -> None:
        if gone:  # the scraper hung up while we rendered
            return
        request.setResponseCode(reply.status)
        for name, value in reply.headers:
            request.setHeader(name, value)
        if reply.body:
            request.write(reply.body)
        request.finish()
