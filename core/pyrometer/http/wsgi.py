"""WSGI request instrumentation shared by every WSGI adapter (Flask, plain WSGI, Django's WSGI side).

The middleware times a request until its response iterable is closed, so a
streamed body is measured to its last chunk, and it always forwards ``close()``.
Framework adapters talk to it through the WSGI environ:

* ``pyrometer.timer``: the request's ``RequestTimer`` (``set_handler`` as soon as
  routing is known, so the in-progress gauge carries the route);
* ``pyrometer.handler``: the route template, if the adapter prefers to leave it there;
* ``pyrometer.exception``: an exception the framework turned into an error response;
* ``pyrometer.skip``: true when the view opted out of tracking;
* ``pyrometer.body_size``: the body's size when the adapter knows the body is
  already complete (not streamed): the request then ends when the app returns.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional
from urllib.parse import parse_qs

from ..protection import Protection
from ._endpoint import serve_metrics
from ._engine import HttpMetrics, RequestTimer

WSGIApp = Callable[[Dict[str, Any], Callable[..., Any]], Iterable[bytes]]

TIMER_KEY = "pyrometer.timer"
HANDLER_KEY = "pyrometer.handler"
EXCEPTION_KEY = "pyrometer.exception"
SKIP_KEY = "pyrometer.skip"
BODY_SIZE_KEY = "pyrometer.body_size"


class _Response:
    __slots__ = ("status",)

    def __init__(self) -> None:
        self.status = 500  # an app that never calls start_response failed


class _MeasuredBody:
    """Passes the body through, counting bytes; the request ends at its last chunk or at ``close()``."""

    def __init__(self, body: Iterable[bytes], finish: Callable[[int], None], timer: RequestTimer,
                 failed: Callable[[BaseException], None]) -> None:
        self._body = body
        self._finish = finish
        self._timer = timer
        self._failed = failed
        self._size = 0

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._body:
                if chunk and not self._size:
                    self._timer.first_byte()
                self._size += len(chunk)
                yield chunk
        except GeneratorExit:  # the server dropped the iterator early: close() ends the request
            raise
        except BaseException as exc:  # the body failed mid-stream: the request failed with it
            self._failed(exc)
            self._finish(self._size)
            raise
        # The last chunk is out: that ends the request, even if the server closes us later.
        self._finish(self._size)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish(self._size)


class WSGIInstrumentation:
    """Measure every request of a WSGI app and serve ``metrics_path`` (``None``: don't serve it).

    ``handler(environ)`` gives the route template when the middleware can know it up front;
    ``request_factory(environ)`` builds what ``extra_labels`` functions receive (default: the environ).
    """

    def __init__(self, app: WSGIApp, engine: HttpMetrics, *, metrics_path: Optional[str] = "/metrics",
                 handler: Optional[Callable[[Dict[str, Any]], Optional[str]]] = None,
                 protection: Optional[Protection] = None, disable_compression: bool = False,
                 request_factory: Optional[Callable[[Dict[str, Any]], Any]] = None) -> None:
        self.app = app
        self.engine = engine
        self.metrics_path = metrics_path
        self._handler = handler
        self._request_factory = request_factory
        self._protection = protection
        self._disable_compression = disable_compression

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == self.metrics_path:
            return self._serve_metrics(environ, start_response)
        engine = self.engine
        # extra_labels read the request: the environ, or the framework's wrapper of it.
        timer = engine.start(environ.get("REQUEST_METHOD", "GET"), path, request=environ,
                             request_factory=self._request_factory)
        if timer is None:
            return self.app(environ, start_response)
        environ[TIMER_KEY] = timer
        if self._handler is not None:
            try:
                route = self._handler(environ)
            except Exception:  # a failing handler function means "no route", never a failed request
                route = None
            timer.set_handler(route)
        response = _Response()

        def capture(status: str, headers: List[Any], exc_info: Any = None) -> Any:
            try:
                response.status = int(status[:3])
            except ValueError:  # not ours to judge: the server will refuse a bad status line
                pass
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        def failed(exc: BaseException) -> None:
            environ.setdefault(EXCEPTION_KEY, exc)

        def finish(size: int) -> None:
            if timer.done:  # the body's last chunk and its close() both end the request
                return
            if environ.get(SKIP_KEY):
                timer.cancel()
                return
            if timer.handler is None:
                timer.set_handler(environ.get(HANDLER_KEY))
            timer.finish(response.status, request_size=_content_length(environ), response_size=size,
                         exception=environ.get(EXCEPTION_KEY))

        try:
            body = self.app(environ, capture)
        except BaseException as exc:
            failed(exc)
            response.status = 500
            finish(0)
            raise
        size = environ.get(BODY_SIZE_KEY)
        if size is None and type(body) in (list, tuple):
            size = sum(len(chunk) for chunk in body)
        if size is not None:
            # Nothing left to produce: the response is complete now, whatever the server does next.
            if size:
                timer.first_byte()
            finish(size)
            return body
        return _MeasuredBody(body, finish, timer, failed)

    def _serve_metrics(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        reply = serve_metrics(
            self.engine.registry, environ.get("REQUEST_METHOD", "GET"), environ.get("HTTP_ACCEPT"),
            environ.get("HTTP_ACCEPT_ENCODING"), parse_qs(environ.get("QUERY_STRING", "")),
            disable_compression=self._disable_compression, protection=self._protection,
            authorization=environ.get("HTTP_AUTHORIZATION"), client_addr=environ.get("REMOTE_ADDR"))
        start_response(reply.status_line, list(reply.headers))
        return [reply.body]


def _content_length(environ: Dict[str, Any]) -> Optional[int]:
    value = environ.get("CONTENT_LENGTH")
    try:
        return int(value) if value else None
    except ValueError:
        return None
