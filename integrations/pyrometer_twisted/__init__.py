"""Request metrics for twisted.web: serve your resource tree with ``InstrumentedSite``.

    from pyrometer_twisted import InstrumentedSite, MetricsResource

    root.putChild(b"metrics", MetricsResource())
    reactor.listenTCP(8080, InstrumentedSite(root))   # instead of server.Site(root)

Every request is measured by the shared engine (``pyrometer.http``) from the
arrival of its request line until ``request.finish()`` (a ``NOT_DONE_YET``
resource included) or until the connection is lost (``status="499"``). The
``handler`` label is the path under which the resource that rendered it was
registered: the path of ``putChild`` registrations from the root
(``/users/active``), or the path given for it in ``routes=``; anything else
(404s, children made on the fly by ``getChild``) is ``none``. The engine options
(``preset``, ``namespace``, ``excluded_paths``, ...) are keyword arguments.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, Dict, Mapping, Optional, Tuple

from pyrometer.http import HttpMetrics, RequestTimer
from pyrometer.twisted import MetricsResource
from twisted.python.failure import Failure
from twisted.web.resource import IResource
from twisted.web.server import Request, Site

__all__ = ["InstrumentedSite", "MetricsResource"]

_SITE_OPTIONS = frozenset(("logPath", "timeout", "logFormatter", "reactor"))


class _InstrumentedRequest(Request):
    """Mixed into the site's request class: starts the timer and reports how the request ended."""

    _pyrometer_timer: Optional[RequestTimer] = None
    _pyrometer_exception: Optional[BaseException] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._pyrometer_arrived = perf_counter()  # the request line just arrived
        super().__init__(*args, **kwargs)

    def process(self) -> None:
        site = self.channel.site
        if isinstance(site, InstrumentedSite):
            site._started(self)
        super().process()

    def processingFailed(self, reason: Failure) -> Any:
        if self._pyrometer_timer is not None:
            self._pyrometer_exception = reason.value
        return super().processingFailed(reason)

    def _pyrometer_ended(self, outcome: Any, timer: RequestTimer) -> None:
        size = self.getHeader(b"content-length")
        request_size = int(size) if size is not None and size.isdigit() else None
        if isinstance(outcome, Failure):  # the connection was lost before finish()
            timer.finish(499, request_size=request_size, response_size=self.sentLength or None)
        else:
            timer.finish(self.code, request_size=request_size, response_size=self.sentLength,
                         exception=self._pyrometer_exception)


class InstrumentedSite(Site):
    """A ``twisted.web.server.Site`` measuring every request of ``resource``.

    ``routes`` maps a handler label to a resource (or to a resource class, for children a
    ``getChild`` makes per request): ``{"/users/{id}": UserResource, "/api": api}``; it wins
    over the ``putChild`` path. ``engine`` is an ``HttpMetrics`` to feed; otherwise the
    engine options are keyword arguments (with ``Site``'s ``reactor``, ``timeout``,
    ``logPath``, ``logFormatter``). A ``requestFactory`` must be a ``Request`` subclass.
    Requests rendered by a ``MetricsResource`` are not measured.
    """

    def __init__(self, resource: IResource, requestFactory: Optional[type] = None, *,  # noqa: N803 (Site's name)
                 routes: Optional[Mapping[str, Any]] = None, engine: Optional[HttpMetrics] = None,
                 **options: Any) -> None:
        site_options = {name: options.pop(name) for name in _SITE_OPTIONS & set(options)}
        if engine is None:
            engine = HttpMetrics(**options)
        elif options:
            raise TypeError("InstrumentedSite takes an HttpMetrics engine or engine options, not both")
        factory = requestFactory if requestFactory is not None else Request
        if not (isinstance(factory, type) and issubclass(factory, Request)):
            raise TypeError("requestFactory must be a twisted.web.server.Request subclass")
        if not issubclass(factory, _InstrumentedRequest):
            factory = type(f"Instrumented{factory.__name__}", (_InstrumentedRequest, factory), {})
        super().__init__(resource, factory, **site_options)
        self.engine = engine
        self._by_resource: Dict[int, str] = {}
        self._by_class: Dict[type, str] = {}
        self._route_refs: Tuple[Any, ...] = tuple((routes or {}).values())  # keeps the ids valid
        for label, target in (routes or {}).items():
            if isinstance(target, type):
                self._by_class[target] = label
            else:
                self._by_resource[id(target)] = label

    def _started(self, request: _InstrumentedRequest) -> None:
        engine = self.engine
        path = request.path.decode("utf-8", "replace")
        timer = engine.start(request.method.decode("latin-1"), path,
                             request=request if engine.needs_request else None)
        if timer is None:
            return
        timer.started = request._pyrometer_arrived
        request._pyrometer_timer = timer
        request.notifyFinish().addBoth(request._pyrometer_ended, timer)

    def getResourceFor(self, request: Request) -> IResource:
        """Find the resource as ``Site`` does, then give the request's timer its handler label."""
        found = super().getResourceFor(request)
        timer = getattr(request, "_pyrometer_timer", None)
        if timer is not None:
            if isinstance(found, MetricsResource):
                timer.cancel()
            else:
                timer.set_handler(self._label(found, request.prepath[len(request.sitepath):]))
        return found

    def _label(self, found: Any, segments: Any) -> Optional[str]:
        label = self._by_resource.get(id(found))
        if label is not None:
            return label
        # Follow putChild registrations only (never getChild, which may have side effects).
        current: Any = self.resource
        depth = 0
        for segment in segments:
            children = getattr(current, "children", None)
            if not children or segment not in children:
                break
            current = children[segment]
            depth += 1
        if current is found:  # a leaf's or a getChild-returns-self's extra segments are not part of it
            return "/" + "/".join(s.decode("utf-8", "replace") for s in segments[:depth])
        return self._by_class.get(type(found))
