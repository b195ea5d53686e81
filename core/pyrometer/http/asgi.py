"""ASGI request instrumentation shared by every ASGI adapter (Starlette, FastAPI, plain ASGI apps).

A pure ASGI middleware: it wraps ``send`` to see the status, count body bytes,
mark the first byte and end the request at the last body chunk (``more_body``
false), so a streamed response is timed to its last chunk and background tasks,
which run after it, are not. No web framework is imported here.

Only ``http`` scopes are measured. ``lifespan`` and ``websocket`` scopes pass
through untouched: a websocket has no status and no end that a request
histogram could honestly report.

Adapters and apps talk to the middleware through ``scope["state"]`` (a dict
shared by every shallow copy of the scope, so inner layers reach it too):

* ``pyrometer.timer``: the request's ``RequestTimer``;
* ``pyrometer.handler``: the route template, if the app prefers to leave it there;
* ``pyrometer.exception``: an exception the app turned into an error response;
* ``pyrometer.skip``: true when the request must not be measured.

Status rules: an exception escaping the app before the response started is a
500 with the exception's class; after the headers went out it keeps their
status and adds the exception. A client that goes away (``http.disconnect``
before the response is complete, or ``send`` failing) ends the request then,
once, with the status already sent or ``499`` (nginx's "client closed request")
if none was; cancellation of the app counts the same way.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any, Awaitable, Callable, Generator, MutableMapping, Optional, Union
from urllib.parse import parse_qs

from ..protection import Protection
from ._endpoint import serve_metrics
from ._engine import HttpMetrics, RequestTimer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TIMER_KEY = "pyrometer.timer"
HANDLER_KEY = "pyrometer.handler"
EXCEPTION_KEY = "pyrometer.exception"
SKIP_KEY = "pyrometer.skip"

CLIENT_CLOSED = 499


class _Pending:
    __slots__ = ()

    def __repr__(self) -> str:
        return "PENDING"


PENDING: Any = _Pending()
"""What a ``handler`` function returns while the app has not routed the request yet."""

HandlerFunction = Callable[[Scope, bool], Union[str, _Pending, None]]


def route_path(scope: Scope) -> str:
    """The path below ``root_path`` (where the app is mounted), as the app's router sees it."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        path = path[len(root):]
    return path or "/"


def header(scope: Scope, name: bytes) -> Optional[str]:
    """All values of one request header joined by commas, or ``None`` when absent."""
    values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == name]
    return ",".join(values) if values else None


def _cancelled(exc: BaseException) -> bool:
    # asyncio's CancelledError, or trio's Cancelled when anyio runs on trio.
    return isinstance(exc, asyncio.CancelledError) or type(exc).__name__ == "Cancelled"


class MetricsEndpoint:
    """An ASGI app answering scrapes of ``registry``; the scrape (and multiprocess merge) runs in a thread.

    Requests it answers are marked ``pyrometer.skip``: a scrape is never a measured request.
    """

    def __init__(self, registry: Any, *, protection: Optional[Protection] = None,
                 disable_compression: bool = False) -> None:
        self.registry = registry
        self.protection = protection
        self.disable_compression = disable_compression

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state")
        if isinstance(state, dict):
            state[SKIP_KEY] = True
        client = scope.get("client")
        render = partial(
            serve_metrics, self.registry, scope.get("method", "GET"), header(scope, b"accept"),
            header(scope, b"accept-encoding"), parse_qs(scope.get("query_string", b"").decode("latin-1")),
            disable_compression=self.disable_compression, protection=self.protection,
            authorization=header(scope, b"authorization"), client_addr=str(client[0]) if client else None)
        reply = await asyncio.get_running_loop().run_in_executor(None, render)
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})


class _Exchange:
    """One measured request: the wrapped ``receive``/``send`` and the bookkeeping between them."""

    __slots__ = ("_handler", "_receive", "_send", "done", "pending", "scope", "sent_status", "size", "state",
                 "status", "timer")

    def __init__(self, scope: Scope, state: MutableMapping[str, Any], timer: RequestTimer,
                 handler: Optional[HandlerFunction], receive: Receive, send: Send) -> None:
        self.scope = scope
        self.state = state
        self.timer = timer
        self._handler = handler
        self._receive = receive
        self._send = send
        self.status: Optional[int] = None  # the status the app answered with
        self.sent_status: Optional[int] = None  # ... once the server took the headers
        self.size = 0
        self.done = False
        self.pending = True  # the route is not known yet

    # -- route -----------------------------------------------------------------

    def resolve(self, final: bool) -> None:
        """Name the route as soon as the app has routed; ``final``: it has (the response starts or ends)."""
        if not self.pending:
            return
        state = self.state
        name = state.get(HANDLER_KEY) if not state.get(SKIP_KEY) else None
        if name is None and self._handler is not None and not state.get(SKIP_KEY):
            try:
                name = self._handler(self.scope, final)
            except Exception:  # a failing handler function means "no route", never a failed request
                name = None
        if state.get(SKIP_KEY):
            self.pending = False
            self.done = True
            self.timer.cancel()
            return
        if name is PENDING:
            if not final:
                return
            name = None
        self.pending = False
        self.timer.set_handler(name)

    # -- wrapped channels --------------------------------------------------------

    async def receive(self) -> Message:
        if self.pending:
            self.resolve(False)
        message = await self._receive()
        if message.get("type") == "http.disconnect":
            self.finish(self.sent_status or CLIENT_CLOSED)
        return message

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            self.status = int(message["status"])
            self.resolve(True)
            await self._forward(message)
            self.sent_status = self.status
            return
        if kind == "http.response.body":
            body = message.get("body", b"")
            if body:
                if not self.size:
                    self.timer.first_byte()
                self.size += len(body)
            await self._forward(message)
            if not message.get("more_body", False):
                self.finish(self.sent_status or CLIENT_CLOSED)
            return
        if kind == "http.response.zerocopysend":
            count = message.get("count")
            if count:
                self.timer.first_byte()
                self.size += int(count)
            await self._forward(message)
            if not message.get("more_body", False):
                self.finish(self.sent_status or CLIENT_CLOSED)
            return
        await self._forward(message)
        if kind == "http.response.pathsend":  # the server sends a whole file: the response is out
            self.finish(self.sent_status or CLIENT_CLOSED)

    async def _forward(self, message: Message) -> None:
        try:
            await self._send(message)
        except BaseException:  # the server could not deliver it: the client is gone
            self.finish(self.sent_status or CLIENT_CLOSED)
            raise

    # -- end ---------------------------------------------------------------------

    def failed(self, exc: BaseException) -> None:
        """The app raised (before or after the headers went out)."""
        if self.done:
            return
        if _cancelled(exc):
            self.finish(self.sent_status or CLIENT_CLOSED)
        elif self.status is None:
            self.finish(500, exc)
        else:
            self.finish(self.sent_status or self.status, exc)

    def returned(self) -> None:
        """The app returned: a response it never completed still ends here."""
        if not self.done:
            self.finish(self.sent_status or self.status or 500)

    def finish(self, status: int, exception: Optional[BaseException] = None) -> None:
        if self.done:
            return
        self.resolve(True)
        if self.done:  # skipped before the route was known
            return
        self.done = True
        if self.state.get(SKIP_KEY):  # skipped by the endpoint itself (a metrics endpoint): undo in-progress
            self.timer.cancel()
            return
        if exception is None:
            exception = self.state.get(EXCEPTION_KEY)
        self.timer.finish(status, request_size=_content_length(self.scope), response_size=self.size,
                          exception=exception)


class _Watched:
    """Awaits the app and asks for its route at each of its steps until the route is known.

    Routing is synchronous in every ASGI router, so at the app's first suspension
    (awaiting a database, a thread, the body...) the route is known: the
    in-progress gauge then carries it while the endpoint runs, not only once it answers.
    """

    __slots__ = ("_coro", "_exchange")

    def __init__(self, coro: Awaitable[None], exchange: _Exchange) -> None:
        self._coro = coro
        self._exchange = exchange

    def __await__(self) -> Generator[Any, Any, None]:
        it = self._coro.__await__()
        exchange = self._exchange
        value: Any = None
        error: Optional[BaseException] = None
        while True:
            try:
                if error is None:
                    step = it.send(value)
                else:
                    exc, error = error, None
                    step = it.throw(exc)
            except StopIteration:
                return
            if exchange.pending:
                exchange.resolve(False)
            try:
                value = yield step
            except GeneratorExit:
                it.close()
                raise
            except BaseException as exc:  # cancellation and the like: deliver it to the app
                error = exc
                value = None


class ASGIInstrumentation:
    """Measure every HTTP request of an ASGI app and serve ``metrics_path`` (``None``: don't serve it).

    ``handler(scope, final)`` names the route template once the app has routed the
    request: it is asked at the app's steps and returns ``PENDING`` while routing is
    not done; ``final`` is true when the response starts or the request ends, and
    ``PENDING`` then means no route (``handler="none"``). ``request_factory(scope)``
    builds what ``extra_labels`` functions receive (default: the scope).
    """

    def __init__(self, app: ASGIApp, engine: HttpMetrics, *, metrics_path: Optional[str] = "/metrics",
                 handler: Optional[HandlerFunction] = None, protection: Optional[Protection] = None,
                 disable_compression: bool = False,
                 request_factory: Optional[Callable[[Scope], Any]] = None) -> None:
        self.app = app
        self.engine = engine
        self.metrics_path = metrics_path
        self._handler = handler
        self._request_factory = request_factory
        self._endpoint = MetricsEndpoint(engine.registry, protection=protection,
                                         disable_compression=disable_compression)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan, websocket: not ours to measure
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if path == self.metrics_path:
            await self._endpoint(scope, receive, send)
            return
        engine = self.engine
        timer = engine.start(scope.get("method", "GET"), path, request=scope, request_factory=self._request_factory)
        if timer is None:
            await self.app(scope, receive, send)
            return
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        elif not isinstance(state, dict):  # not a shape we may write to: keep our keys to ourselves
            state = {}
        state[TIMER_KEY] = timer
        exchange = _Exchange(scope, state, timer, self._handler, receive, send)
        try:
            await _Watched(self.app(scope, exchange.receive, exchange.send), exchange)
        except BaseException as exc:
            exchange.failed(exc)
            raise
        exchange.returned()


def _content_length(scope: Scope) -> Optional[int]:
    for key, value in scope.get("headers", ()):
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


__all__ = [
    "ASGIInstrumentation",
    "EXCEPTION_KEY",
    "HANDLER_KEY",
    "PENDING",
    "SKIP_KEY",
    "TIMER_KEY",
    "MetricsEndpoint",
    "header",
    "route_path",
]
