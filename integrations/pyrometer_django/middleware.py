"""``PrometheusBeforeMiddleware`` (first in ``MIDDLEWARE``) and ``PrometheusAfterMiddleware`` (last).

The *before* middleware starts the shared engine's timer when the request enters
the stack and finishes it when the response leaves it, so the duration covers every
middleware; for a streamed body it finishes at the last chunk (or when the response
is closed). The *after* middleware sits next to the view: it learns the route once
URL resolution is done (``process_view``) and the exception a view raised
(``process_exception``). Both work in sync (WSGI) and async (ASGI) stacks without
thread hops.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Callable, Optional

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponseBase
from django.http.multipartparser import MultiPartParserError
from django.urls import Resolver404, ResolverMatch, get_resolver
from pyrometer.http import RequestTimer

from ._config import get_config
from .views import is_untracked

__all__ = ["PrometheusAfterMiddleware", "PrometheusBeforeMiddleware"]

_TIMER = "_pyrometer_timer"          # the request's RequestTimer (None once a view opted out)
_EXCEPTION = "_pyrometer_exception"  # what the view raised (Django answered 500)
_REACHED = "_pyrometer_reached"      # the after middleware saw the request: URL resolution was attempted
# Exceptions Django answers as 4xx responses (like Flask's abort): responses, not errors of the view.
_HTTP_ANSWERS = (Http404, PermissionDenied, BadRequest, SuspiciousOperation, MultiPartParserError)
CLIENT_CLOSED = 499  # nginx's "client closed request", as the other ASGI integrations report a cancelled request


def _cancelled(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.CancelledError)


class _Middleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)


class PrometheusBeforeMiddleware(_Middleware):
    """Put first in ``MIDDLEWARE``: times each request with the shared HTTP metrics engine."""

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        timer = _start(request)
        if timer is None:
            return self.get_response(request)
        try:
            response = self.get_response(request)
        except BaseException as exc:  # Django turns exceptions into responses; this is what escaped that
            _escaped(request, timer, exc)
            raise
        return _finish(request, timer, response)

    async def __acall__(self, request: HttpRequest) -> Any:
        timer = _start(request)
        if timer is None:
            return await self.get_response(request)
        try:
            response = await self.get_response(request)
        except BaseException as exc:  # including CancelledError: the client went away
            _escaped(request, timer, exc)
            raise
        return _finish(request, timer, response)


class PrometheusAfterMiddleware(_Middleware):
    """Put last in ``MIDDLEWARE``: labels the request with its route and records a view's exception."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)
        if self.is_async:  # Django would run a sync process_view in a thread for every async request
            self.process_view = self._aprocess_view  # type: ignore[method-assign]

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        setattr(request, _REACHED, True)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> Any:
        setattr(request, _REACHED, True)
        return await self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any,
                     view_kwargs: Any) -> None:
        """The URL is resolved: the route becomes the ``handler`` label and the request counts as in progress."""
        _view_known(request, view_func)

    async def _aprocess_view(self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any,
                             view_kwargs: Any) -> None:
        _view_known(request, view_func)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Remember the view's exception; Django's 500 response is what gets counted, with it.

        ``Http404``, ``PermissionDenied``, ``BadRequest`` and ``SuspiciousOperation`` are
        Django's way of answering 4xx: counted as their response, not as exceptions.
        """
        if getattr(request, _TIMER, None) is not None and not isinstance(exception, _HTTP_ANSWERS):
            setattr(request, _EXCEPTION, exception)


# -- per request ------------------------------------------------------------------

def _start(request: HttpRequest) -> Optional[RequestTimer]:
    engine = get_config().engine
    timer = engine.start(request.method or "GET", request.path_info,
                         request=request if engine.needs_request else None)
    if timer is not None:
        setattr(request, _TIMER, timer)
    return timer


def _view_known(request: HttpRequest, view_func: Callable[..., Any]) -> None:
    timer: Optional[RequestTimer] = getattr(request, _TIMER, None)
    if timer is not None:
        if is_untracked(view_func):
            timer.cancel()
            setattr(request, _TIMER, None)
        else:
            timer.set_handler(_handler(request.resolver_match, get_config().handler_label))


def _finish(request: HttpRequest, timer: RequestTimer, response: HttpResponseBase) -> HttpResponseBase:
    if getattr(request, _TIMER, None) is None:  # the view opted out
        return response
    if timer.handler is None and not _route_late(request, timer):
        return response
    exception = getattr(request, _EXCEPTION, None)
    config = get_config()
    if config.legacy is not None:
        config.legacy.done(request, timer.method, timer.handler, response)
    sizes = config.sizes
    request_size = _request_size(request) if sizes else None
    if response.streaming:
        length = response.get("Content-Length")
        stream = _AsyncTimedStream if getattr(response, "is_async", False) else _TimedStream
        response.streaming_content = stream(  # type: ignore[attr-defined]
            response.streaming_content, timer, response.status_code, request_size, exception,  # type: ignore[attr-defined]
            int(length) if length and length.isdigit() else None)
    else:
        timer.finish(response.status_code, request_size=request_size,
                     response_size=len(response.content) if sizes else None,  # type: ignore[attr-defined]
                     exception=exception)
    return response


def _escaped(request: HttpRequest, timer: RequestTimer, exc: BaseException) -> None:
    if getattr(request, _TIMER, None) is None:
        return
    if timer.handler is None and not _route_late(request, timer):
        return
    legacy = get_config().legacy
    if legacy is not None:
        legacy.done(request, timer.method, timer.handler, None)
    if _cancelled(exc):  # under ASGI Django cancels the view when the client disconnects
        timer.finish(CLIENT_CLOSED, request_size=_request_size(request))
    else:
        timer.finish(500, request_size=_request_size(request), exception=exc)


def _route_late(request: HttpRequest, timer: RequestTimer) -> bool:
    """Label a request whose route was not seen by the after middleware; False if its view opted out.

    Either resolution found no route (the after middleware saw the request: ``none``),
    a middleware's ``process_view`` answered first (``resolver_match`` is set), or a
    middleware answered before resolution: then the URL is resolved here.
    """
    match = getattr(request, "resolver_match", None)
    if match is None and not getattr(request, _REACHED, False):
        try:
            match = get_resolver(getattr(request, "urlconf", None)).resolve(request.path_info)
        except Resolver404:
            match = None
    if match is not None and is_untracked(match.func):
        timer.cancel()
        return False
    timer.set_handler(_handler(match, get_config().handler_label))
    return True


def _handler(match: Optional[ResolverMatch], label: str) -> Optional[str]:
    if match is None:
        return None
    if label == "view":
        return match.view_name
    return _absolute(match.route)


@functools.lru_cache(maxsize=4096)
def _absolute(route: str) -> str:
    """A resolver route (``polls/<int:question_id>/``, joined over includes) as an absolute template."""
    route = route.removeprefix("^")
    if route.endswith("\\Z"):
        route = route[:-2]
    elif route.endswith("$") and not route.endswith("\\$"):
        route = route[:-1]
    return "/" + route


def _request_size(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class _Timing:
    """A streamed body that finishes its request's timer at the last chunk, or when the response closes."""

    def __init__(self, chunks: Any, timer: RequestTimer, status: int, request_size: Optional[int],
                 exception: Optional[BaseException], length: Optional[int]) -> None:
        self._chunks = chunks
        self._timer = timer
        self._status = status
        self._request_size = request_size
        self._exception = exception
        self._length = length  # Content-Length, for a body sent without iterating (wsgi.file_wrapper)
        self._size = 0
        self._iterated = False

    def _chunk(self, chunk: bytes) -> None:
        if not self._iterated:
            self._iterated = True
            self._timer.first_byte()
        self._size += len(chunk)

    def _done(self, exception: Optional[BaseException] = None) -> None:
        size = self._size if self._iterated or self._length is None else self._length
        self._timer.finish(self._status, request_size=self._request_size, response_size=size,
                           exception=exception or self._exception)

    def close(self) -> None:
        """Called by Django when the response is closed; a body never read ends here."""
        self._done()


class _TimedStream(_Timing):
    """For an iterator (``StreamingHttpResponse``, ``FileResponse``)."""

    def __iter__(self) -> _TimedStream:
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self.close()
            raise
        except BaseException as exc:
            self._done(exc)
            raise
        self._chunk(chunk)
        return chunk


class _AsyncTimedStream(_Timing):
    """For an async iterator (an async view's ``StreamingHttpResponse`` under ASGI)."""

    def __aiter__(self) -> _AsyncTimedStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            self.close()
            raise
        except BaseException as exc:  # a cancellation (client gone) keeps the status sent, adds no exception
            self._done(None if _cancelled(exc) else exc)
            raise
        self._chunk(chunk)
        return chunk
